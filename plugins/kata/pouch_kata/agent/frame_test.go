package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewFrameWriter(&buf)
	if err := w.Write(map[string]interface{}{"id": 1, "type": "version"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(OutputEvent{Type: "output", Process: "c", Stream: "stdout", Data: []byte("hi\n")}); err != nil {
		t.Fatal(err)
	}
	if got := binary.BigEndian.Uint32(buf.Bytes()[:4]); got != uint32(len(`{"id":1,"type":"version"}`)) {
		t.Fatalf("length prefix %d", got)
	}
	first, err := ReadFrame(&buf)
	if err != nil || string(first) != `{"id":1,"type":"version"}` {
		t.Fatalf("first frame %q, %v", first, err)
	}
	second, err := ReadFrame(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var ev OutputEvent
	if err := json.Unmarshal(second, &ev); err != nil || string(ev.Data) != "hi\n" {
		t.Fatalf("second frame %s: %v", second, err)
	}
	if !strings.Contains(string(second), `"data":"aGkK"`) {
		t.Fatalf("output data is not base64: %s", second)
	}
	if _, err := ReadFrame(&buf); err != io.EOF {
		t.Fatalf("after the last frame: %v, want EOF", err)
	}
}

func TestFrameTooLarge(t *testing.T) {
	var head [4]byte
	binary.BigEndian.PutUint32(head[:], MaxFrame+1)
	if _, err := ReadFrame(bytes.NewReader(head[:])); err == nil || !strings.Contains(err.Error(), "larger than the limit") {
		t.Fatalf("got %v", err)
	}
}

func TestFrameTruncated(t *testing.T) {
	data := []byte{0, 0, 0, 10, '{', '}'}
	if _, err := ReadFrame(bytes.NewReader(data)); err != io.ErrUnexpectedEOF {
		t.Fatalf("got %v, want unexpected EOF", err)
	}
	if _, err := ReadFrame(bytes.NewReader([]byte{0, 0})); err != io.ErrUnexpectedEOF {
		t.Fatalf("short length: got %v", err)
	}
}
