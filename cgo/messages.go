package aiworker

import "strconv"

// The messages of ai_service.AiWorker (CONTRACT.md), with the field names
// protoc-gen-go generates. Getters are nil-safe, as protoc-gen-go's.

// ProcessingStage is ai_service.ProcessingStage.
type ProcessingStage int32

const (
	ProcessingStage_STAGE_UNKNOWN     ProcessingStage = 0
	ProcessingStage_STAGE_QUEUED      ProcessingStage = 1
	ProcessingStage_STAGE_DOWNLOADING ProcessingStage = 2
	ProcessingStage_STAGE_PROCESSING  ProcessingStage = 3
	ProcessingStage_STAGE_EMBEDDING   ProcessingStage = 4
	ProcessingStage_STAGE_COMPLETED   ProcessingStage = 5
	ProcessingStage_STAGE_FAILED      ProcessingStage = 6
)

// ProcessingStage_name maps values to names, as protoc-gen-go's.
var ProcessingStage_name = map[int32]string{
	0: "STAGE_UNKNOWN", 1: "STAGE_QUEUED", 2: "STAGE_DOWNLOADING", 3: "STAGE_PROCESSING",
	4: "STAGE_EMBEDDING", 5: "STAGE_COMPLETED", 6: "STAGE_FAILED",
}

// ProcessingStage_value maps names to values.
var ProcessingStage_value = map[string]int32{
	"STAGE_UNKNOWN": 0, "STAGE_QUEUED": 1, "STAGE_DOWNLOADING": 2, "STAGE_PROCESSING": 3,
	"STAGE_EMBEDDING": 4, "STAGE_COMPLETED": 5, "STAGE_FAILED": 6,
}

// String returns the proto name ("STAGE_COMPLETED"), or the number.
func (x ProcessingStage) String() string { return enumName(ProcessingStage_name, int32(x)) }

// Enum returns a pointer to a copy of x.
func (x ProcessingStage) Enum() *ProcessingStage { return &x }

// EmbeddingType is ai_service.EmbeddingType.
type EmbeddingType int32

const (
	EmbeddingType_EMBEDDING_UNKNOWN  EmbeddingType = 0
	EmbeddingType_EMBEDDING_SEMANTIC EmbeddingType = 1
	EmbeddingType_EMBEDDING_VISUAL   EmbeddingType = 2
	EmbeddingType_EMBEDDING_BOTH     EmbeddingType = 3
)

// EmbeddingType_name maps values to names.
var EmbeddingType_name = map[int32]string{
	0: "EMBEDDING_UNKNOWN", 1: "EMBEDDING_SEMANTIC", 2: "EMBEDDING_VISUAL", 3: "EMBEDDING_BOTH",
}

// EmbeddingType_value maps names to values.
var EmbeddingType_value = map[string]int32{
	"EMBEDDING_UNKNOWN": 0, "EMBEDDING_SEMANTIC": 1, "EMBEDDING_VISUAL": 2, "EMBEDDING_BOTH": 3,
}

// String returns the proto name ("EMBEDDING_BOTH"), or the number.
func (x EmbeddingType) String() string { return enumName(EmbeddingType_name, int32(x)) }

// Enum returns a pointer to a copy of x.
func (x EmbeddingType) Enum() *EmbeddingType { return &x }

// SearchType is ai_service.SearchType.
type SearchType int32

const (
	SearchType_SEARCH_UNKNOWN  SearchType = 0
	SearchType_SEARCH_SEMANTIC SearchType = 1
	SearchType_SEARCH_VISUAL   SearchType = 2
	SearchType_SEARCH_HYBRID   SearchType = 3
)

// SearchType_name maps values to names.
var SearchType_name = map[int32]string{
	0: "SEARCH_UNKNOWN", 1: "SEARCH_SEMANTIC", 2: "SEARCH_VISUAL", 3: "SEARCH_HYBRID",
}

// SearchType_value maps names to values.
var SearchType_value = map[string]int32{
	"SEARCH_UNKNOWN": 0, "SEARCH_SEMANTIC": 1, "SEARCH_VISUAL": 2, "SEARCH_HYBRID": 3,
}

// String returns the proto name ("SEARCH_HYBRID"), or the number.
func (x SearchType) String() string { return enumName(SearchType_name, int32(x)) }

// Enum returns a pointer to a copy of x.
func (x SearchType) Enum() *SearchType { return &x }

func enumName(names map[int32]string, v int32) string {
	if s, ok := names[v]; ok {
		return s
	}
	return strconv.FormatInt(int64(v), 10)
}

// AssetRequest is the request of ProcessAsset. AssetId, FilePath and
// MimeType are required.
type AssetRequest struct {
	AssetId  string
	FilePath string // object path, bucket/object
	MimeType string
	Options  *ProcessingOptions // sent when non-nil
}

func (x *AssetRequest) GetAssetId() string {
	if x != nil {
		return x.AssetId
	}
	return ""
}

func (x *AssetRequest) GetFilePath() string {
	if x != nil {
		return x.FilePath
	}
	return ""
}

func (x *AssetRequest) GetMimeType() string {
	if x != nil {
		return x.MimeType
	}
	return ""
}

func (x *AssetRequest) GetOptions() *ProcessingOptions {
	if x != nil {
		return x.Options
	}
	return nil
}

// ProcessingOptions is ai_service.ProcessingOptions.
type ProcessingOptions struct {
	EnableOcr       bool
	EnableCaption   bool
	EnableEmbedding bool
	EnableSummary   bool
	MaxChunkSize    int32
}

func (x *ProcessingOptions) GetEnableOcr() bool       { return x != nil && x.EnableOcr }
func (x *ProcessingOptions) GetEnableCaption() bool   { return x != nil && x.EnableCaption }
func (x *ProcessingOptions) GetEnableEmbedding() bool { return x != nil && x.EnableEmbedding }
func (x *ProcessingOptions) GetEnableSummary() bool   { return x != nil && x.EnableSummary }
func (x *ProcessingOptions) GetMaxChunkSize() int32 {
	if x != nil {
		return x.MaxChunkSize
	}
	return 0
}

// ProcessStatus is the response of ProcessAsset.
type ProcessStatus struct {
	Success  bool
	Error    string
	Stage    ProcessingStage
	Progress float32 // 0..1
}

func (x *ProcessStatus) GetSuccess() bool { return x != nil && x.Success }
func (x *ProcessStatus) GetError() string {
	if x != nil {
		return x.Error
	}
	return ""
}
func (x *ProcessStatus) GetStage() ProcessingStage {
	if x != nil {
		return x.Stage
	}
	return ProcessingStage_STAGE_UNKNOWN
}
func (x *ProcessStatus) GetProgress() float32 {
	if x != nil {
		return x.Progress
	}
	return 0
}

// ChatRequest is the request of ChatStream. Query is required.
type ChatRequest struct {
	Query   string
	History []*ChatMessage
	Options *ChatOptions // sent when non-nil
}

func (x *ChatRequest) GetQuery() string {
	if x != nil {
		return x.Query
	}
	return ""
}
func (x *ChatRequest) GetHistory() []*ChatMessage {
	if x != nil {
		return x.History
	}
	return nil
}
func (x *ChatRequest) GetOptions() *ChatOptions {
	if x != nil {
		return x.Options
	}
	return nil
}

// ChatMessage is one message of a chat's history.
type ChatMessage struct {
	Role      string // "user" or "assistant"
	Content   string
	Timestamp int64 // Unix seconds
}

func (x *ChatMessage) GetRole() string {
	if x != nil {
		return x.Role
	}
	return ""
}
func (x *ChatMessage) GetContent() string {
	if x != nil {
		return x.Content
	}
	return ""
}
func (x *ChatMessage) GetTimestamp() int64 {
	if x != nil {
		return x.Timestamp
	}
	return 0
}

// ChatOptions is ai_service.ChatOptions.
type ChatOptions struct {
	MaxContextDocs      int32
	SimilarityThreshold float32
	IncludeImages       bool
	StreamResponse      bool
}

func (x *ChatOptions) GetMaxContextDocs() int32 {
	if x != nil {
		return x.MaxContextDocs
	}
	return 0
}
func (x *ChatOptions) GetSimilarityThreshold() float32 {
	if x != nil {
		return x.SimilarityThreshold
	}
	return 0
}
func (x *ChatOptions) GetIncludeImages() bool  { return x != nil && x.IncludeImages }
func (x *ChatOptions) GetStreamResponse() bool { return x != nil && x.StreamResponse }

// ChatResponse is one message of a ChatStream; Sources come on the final one.
type ChatResponse struct {
	Chunk   string
	IsFinal bool
	Sources []*SearchResult
}

func (x *ChatResponse) GetChunk() string {
	if x != nil {
		return x.Chunk
	}
	return ""
}
func (x *ChatResponse) GetIsFinal() bool { return x != nil && x.IsFinal }
func (x *ChatResponse) GetSources() []*SearchResult {
	if x != nil {
		return x.Sources
	}
	return nil
}

// EmbeddingRequest is the request of GetEmbedding. The content oneof is Text,
// or Image when Image is non-nil; setting both is InvalidArgument.
type EmbeddingRequest struct {
	Text  string
	Image *ImageData
	Type  EmbeddingType
}

func (x *EmbeddingRequest) GetText() string {
	if x != nil {
		return x.Text
	}
	return ""
}
func (x *EmbeddingRequest) GetImage() *ImageData {
	if x != nil {
		return x.Image
	}
	return nil
}
func (x *EmbeddingRequest) GetType() EmbeddingType {
	if x != nil {
		return x.Type
	}
	return EmbeddingType_EMBEDDING_UNKNOWN
}

// ImageData is an image: its bytes and format ("png", "jpg", ...).
type ImageData struct {
	Data   []byte
	Format string
}

func (x *ImageData) GetData() []byte {
	if x != nil {
		return x.Data
	}
	return nil
}
func (x *ImageData) GetFormat() string {
	if x != nil {
		return x.Format
	}
	return ""
}

// EmbeddingResponse is the response of GetEmbedding.
type EmbeddingResponse struct {
	SemanticVector []float32
	VisualVector   []float32
	Success        bool
	Error          string
}

func (x *EmbeddingResponse) GetSemanticVector() []float32 {
	if x != nil {
		return x.SemanticVector
	}
	return nil
}
func (x *EmbeddingResponse) GetVisualVector() []float32 {
	if x != nil {
		return x.VisualVector
	}
	return nil
}
func (x *EmbeddingResponse) GetSuccess() bool { return x != nil && x.Success }
func (x *EmbeddingResponse) GetError() string {
	if x != nil {
		return x.Error
	}
	return ""
}

// SearchRequest is the request of VectorSearch. Query is required.
type SearchRequest struct {
	Query     string
	Type      SearchType
	Limit     int32 // 0: the service's default
	Threshold float32
	Filters   []string
}

func (x *SearchRequest) GetQuery() string {
	if x != nil {
		return x.Query
	}
	return ""
}
func (x *SearchRequest) GetType() SearchType {
	if x != nil {
		return x.Type
	}
	return SearchType_SEARCH_UNKNOWN
}
func (x *SearchRequest) GetLimit() int32 {
	if x != nil {
		return x.Limit
	}
	return 0
}
func (x *SearchRequest) GetThreshold() float32 {
	if x != nil {
		return x.Threshold
	}
	return 0
}
func (x *SearchRequest) GetFilters() []string {
	if x != nil {
		return x.Filters
	}
	return nil
}

// SearchResult is one hit of VectorSearch or one source of a chat.
type SearchResult struct {
	AssetId      string
	Score        float32
	Caption      string
	MimeType     string
	ThumbnailUrl string
	Metadata     map[string]string
}

func (x *SearchResult) GetAssetId() string {
	if x != nil {
		return x.AssetId
	}
	return ""
}
func (x *SearchResult) GetScore() float32 {
	if x != nil {
		return x.Score
	}
	return 0
}
func (x *SearchResult) GetCaption() string {
	if x != nil {
		return x.Caption
	}
	return ""
}
func (x *SearchResult) GetMimeType() string {
	if x != nil {
		return x.MimeType
	}
	return ""
}
func (x *SearchResult) GetThumbnailUrl() string {
	if x != nil {
		return x.ThumbnailUrl
	}
	return ""
}
func (x *SearchResult) GetMetadata() map[string]string {
	if x != nil {
		return x.Metadata
	}
	return nil
}

// SearchResponse is the response of VectorSearch; TotalCount counts the
// matches before the limit.
type SearchResponse struct {
	Results    []*SearchResult
	TotalCount int32
	Success    bool
	Error      string
}

func (x *SearchResponse) GetResults() []*SearchResult {
	if x != nil {
		return x.Results
	}
	return nil
}
func (x *SearchResponse) GetTotalCount() int32 {
	if x != nil {
		return x.TotalCount
	}
	return 0
}
func (x *SearchResponse) GetSuccess() bool { return x != nil && x.Success }
func (x *SearchResponse) GetError() string {
	if x != nil {
		return x.Error
	}
	return ""
}
