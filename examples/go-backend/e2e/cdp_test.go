package e2e

// A minimal Chrome DevTools Protocol client over a minimal WebSocket client
// (RFC 6455, client side: masked text frames out; text, continuation, ping
// and close frames in). The standard library has no WebSocket, and the test
// must not need npm or playwright.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

type wsConn struct {
	conn net.Conn
	br   *bufio.Reader
}

func dialWebSocket(rawURL string, timeout time.Duration) (*wsConn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("websocket: unsupported URL %q", rawURL)
	}
	conn, err := net.DialTimeout("tcp", u.Host, timeout)
	if err != nil {
		return nil, err
	}
	var k [16]byte
	if _, err := rand.Read(k[:]); err != nil {
		conn.Close()
		return nil, err
	}
	key := base64.StdEncoding.EncodeToString(k[:])
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		conn.Close()
		return nil, err
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.StatusCode != http.StatusSwitchingProtocols ||
		resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		conn.Close()
		return nil, fmt.Errorf("websocket: handshake refused: %s", resp.Status)
	}
	_ = conn.SetDeadline(time.Time{})
	return &wsConn{conn: conn, br: br}, nil
}

func (w *wsConn) writeFrame(opcode byte, payload []byte) error {
	hdr := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n <= 0xffff:
		hdr = append(hdr, 0x80|126, byte(n>>8), byte(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	var mask [4]byte
	if _, err := rand.Read(mask[:]); err != nil {
		return err
	}
	hdr = append(hdr, mask[:]...)
	masked := make([]byte, len(payload))
	for i, b := range payload {
		masked[i] = b ^ mask[i%4]
	}
	_, err := w.conn.Write(append(hdr, masked...))
	return err
}

// readMessage returns the next text or binary message, answering pings.
func (w *wsConn) readMessage(deadline time.Time) ([]byte, error) {
	_ = w.conn.SetReadDeadline(deadline)
	var msg []byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(w.br, h[:]); err != nil {
			return nil, err
		}
		fin, opcode := h[0]&0x80 != 0, h[0]&0x0f
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(w.br, b[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(w.br, b[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		var mask []byte
		if h[1]&0x80 != 0 {
			mask = make([]byte, 4)
			if _, err := io.ReadFull(w.br, mask); err != nil {
				return nil, err
			}
		}
		if n > 256<<20 {
			return nil, fmt.Errorf("websocket: frame of %d bytes", n)
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(w.br, payload); err != nil {
			return nil, err
		}
		if mask != nil {
			for i := range payload {
				payload[i] ^= mask[i%4]
			}
		}
		switch opcode {
		case 0x0, 0x1, 0x2:
			msg = append(msg, payload...)
			if fin {
				return msg, nil
			}
		case 0x8:
			return nil, errors.New("websocket: closed by peer")
		case 0x9:
			if err := w.writeFrame(0xA, payload); err != nil {
				return nil, err
			}
		case 0xA:
		default:
			return nil, fmt.Errorf("websocket: unexpected opcode %d", opcode)
		}
	}
}

func (w *wsConn) Close() error {
	_ = w.writeFrame(0x8, []byte{0x03, 0xe8})
	return w.conn.Close()
}

// ---- CDP ------------------------------------------------------------------------

type cdpMessage struct {
	ID     int             `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// cdpSession talks to one page target. Calls are synchronous; events that
// arrive meanwhile are kept for waitEvent.
type cdpSession struct {
	ws     *wsConn
	nextID int
	events []cdpMessage
}

func (c *cdpSession) call(method string, params interface{}, result interface{}, timeout time.Duration) error {
	c.nextID++
	id := c.nextID
	if params == nil {
		params = struct{}{}
	}
	req, err := json.Marshal(map[string]interface{}{"id": id, "method": method, "params": params})
	if err != nil {
		return err
	}
	if err := c.ws.writeFrame(0x1, req); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		data, err := c.ws.readMessage(deadline)
		if err != nil {
			return fmt.Errorf("%s: %w", method, err)
		}
		var m cdpMessage
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("%s: bad CDP message: %w", method, err)
		}
		if m.ID == 0 {
			c.events = append(c.events, m)
			continue
		}
		if m.ID != id {
			continue
		}
		if m.Error != nil {
			return fmt.Errorf("%s: CDP error %d: %s", method, m.Error.Code, m.Error.Message)
		}
		if result != nil {
			return json.Unmarshal(m.Result, result)
		}
		return nil
	}
}

func (c *cdpSession) waitEvent(method string, timeout time.Duration) error {
	for i, e := range c.events {
		if e.Method == method {
			c.events = append(c.events[:i], c.events[i+1:]...)
			return nil
		}
	}
	deadline := time.Now().Add(timeout)
	for {
		data, err := c.ws.readMessage(deadline)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", method, err)
		}
		var m cdpMessage
		if json.Unmarshal(data, &m) == nil && m.Method == method {
			return nil
		}
	}
}

// evaluate runs a JS expression in the page (awaiting a promise) and
// decodes its value into out.
func (c *cdpSession) evaluate(expr string, out interface{}, timeout time.Duration) error {
	var res struct {
		Result struct {
			Type  string          `json:"type"`
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception *struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := c.call("Runtime.evaluate", map[string]interface{}{
		"expression": expr, "awaitPromise": true, "returnByValue": true}, &res, timeout)
	if err != nil {
		return err
	}
	if d := res.ExceptionDetails; d != nil {
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		return fmt.Errorf("javascript exception in %q: %s", expr, msg)
	}
	if out != nil {
		if len(res.Result.Value) == 0 {
			return fmt.Errorf("javascript %q returned %s, no value", expr, res.Result.Type)
		}
		return json.Unmarshal(res.Result.Value, out)
	}
	return nil
}

// click presses and releases the left mouse button in the middle of the
// element matched by selector, as a user would.
func (c *cdpSession) click(selector string) error {
	var box struct{ X, Y float64 }
	expr := fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect();
		return {X: r.left + r.width / 2, Y: r.top + r.height / 2}; })()`, selector)
	if err := c.evaluate(expr, &box, 10*time.Second); err != nil {
		return err
	}
	for _, typ := range []string{"mousePressed", "mouseReleased"} {
		if err := c.call("Input.dispatchMouseEvent", map[string]interface{}{
			"type": typ, "x": box.X, "y": box.Y, "button": "left", "clickCount": 1}, nil, 10*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// typeInto focuses the element and types text into it.
func (c *cdpSession) typeInto(selector, text string) error {
	if err := c.click(selector); err != nil {
		return err
	}
	return c.call("Input.insertText", map[string]string{"text": text}, nil, 10*time.Second)
}

// pageWebSocketURL asks the browser's HTTP endpoint for its page target.
func pageWebSocketURL(browserWS string, timeout time.Duration) (string, error) {
	u, err := url.Parse(browserWS)
	if err != nil {
		return "", err
	}
	client := &http.Client{Timeout: timeout}
	resp, err := client.Get("http://" + u.Host + "/json/list")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var targets []struct {
		Type                 string `json:"type"`
		URL                  string `json:"url"`
		WebSocketDebuggerURL string `json:"webSocketDebuggerUrl"`
	}
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &targets); err != nil {
		return "", fmt.Errorf("/json/list: %v: %s", err, bytes.TrimSpace(body))
	}
	for _, t := range targets {
		if t.Type == "page" && t.WebSocketDebuggerURL != "" {
			return t.WebSocketDebuggerURL, nil
		}
	}
	return "", fmt.Errorf("no page target in /json/list: %s", strings.TrimSpace(string(body)))
}
