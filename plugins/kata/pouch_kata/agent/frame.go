package main

// The wire format: every message is a 4-byte big-endian length followed by
// that many bytes of one JSON object. Both directions use it.

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// MaxFrame bounds one message, so a corrupt length cannot make the agent
// allocate the guest's memory away.
const MaxFrame = 16 << 20

// ReadFrame reads one frame's payload.
func ReadFrame(r io.Reader) ([]byte, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(head[:])
	if n > MaxFrame {
		return nil, fmt.Errorf("frame of %d bytes is larger than the limit of %d", n, MaxFrame)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// FrameWriter writes whole frames; it is safe for concurrent use, since
// replies and output events of many processes share the one stream.
type FrameWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func NewFrameWriter(w io.Writer) *FrameWriter { return &FrameWriter{w: w} }

// Write encodes v as JSON and sends it as one frame.
func (f *FrameWriter) Write(v interface{}) error {
	payload, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(payload) > MaxFrame {
		return fmt.Errorf("message of %d bytes is larger than the limit of %d", len(payload), MaxFrame)
	}
	buf := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(buf, uint32(len(payload)))
	copy(buf[4:], payload)
	f.mu.Lock()
	defer f.mu.Unlock()
	_, err = f.w.Write(buf)
	return err
}
