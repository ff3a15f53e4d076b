module github.com/matttproud/golang_protobuf_extensions

go 1.9
