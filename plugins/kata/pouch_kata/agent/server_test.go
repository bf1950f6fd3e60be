package main

import (
	"encoding/binary"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"
)

// serve runs a server on one end of a pipe and returns the other end.
func serve(t *testing.T) (net.Conn, chan error) {
	t.Helper()
	host, guest := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- NewServer(nil).Serve(guest) }()
	t.Cleanup(func() { host.Close() })
	return host, done
}

func send(t *testing.T, c net.Conn, payload string) {
	t.Helper()
	buf := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(buf, uint32(len(payload)))
	copy(buf[4:], payload)
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(buf); err != nil {
		t.Fatal(err)
	}
}

func receive(t *testing.T, c net.Conn) map[string]interface{} {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	payload, err := ReadFrame(c)
	if err != nil {
		t.Fatal(err)
	}
	var msg map[string]interface{}
	if err := json.Unmarshal(payload, &msg); err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestVersion(t *testing.T) {
	c, _ := serve(t)
	send(t, c, `{"id":7,"type":"version"}`)
	msg := receive(t, c)
	if msg["id"] != 7.0 || msg["type"] != "reply" {
		t.Fatalf("reply %v", msg)
	}
	result := msg["result"].(map[string]interface{})
	if result["version"] != Version || result["protocol"] != float64(ProtocolVersion) {
		t.Fatalf("result %v", result)
	}
}

func TestBadRequestsGetErrorsAndServingGoesOn(t *testing.T) {
	c, _ := serve(t)
	cases := []struct{ request, id, want string }{
		{`{"id":1,"type":"reboot"}`, "1", `unknown request type "reboot"`},
		{`{"id":2}`, "2", "request without a type"},
		{`{"id":3,"type":"create","container":"c"}`, "3", "create needs container and rootfs"},
		{`{"id":4,"type":"create","container":"c","rootfs":"/x","spec":{"args":[]}}`, "4", "spec.args must name a program"},
		{`{"id":5,"type":"signal","process":"nope","signal":9}`, "5", `no process "nope"`},
		{`{"id":6,"type":"wait","process":"nope"}`, "6", `no process "nope"`},
		{`{"id":7,"type":"start","container":"nope"}`, "7", `no container "nope"`},
		{`{"id":8,"type":"signal","data":"not base64!"}`, "8", "bad request"},
		{`not json`, "0", "bad request"},
	}
	for _, tc := range cases {
		send(t, c, tc.request)
		msg := receive(t, c)
		if msg["type"] != "error" || !strings.Contains(msg["error"].(string), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", tc.request, msg, tc.want)
		}
		if id, _ := json.Marshal(msg["id"]); string(id) != tc.id {
			t.Errorf("%s: reply id %s, want %s", tc.request, id, tc.id)
		}
	}
	send(t, c, `{"id":99,"type":"version"}`)
	if msg := receive(t, c); msg["type"] != "reply" || msg["id"] != 99.0 {
		t.Fatalf("after the errors: %v", msg)
	}
}

func TestServeEndsCleanlyAtEOF(t *testing.T) {
	c, done := serve(t)
	c.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve returned %v at EOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the host closed the stream")
	}
}

func TestLookPath(t *testing.T) {
	if _, err := lookPath(t.TempDir(), "sh", nil); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("got %v", err)
	}
	if p, err := lookPath("/nonexistent", "/bin/sh", nil); err != nil || p != "/bin/sh" {
		t.Fatalf("an absolute name is kept: %q %v", p, err)
	}
}

func TestAgentPortFromTheKernelCommandLine(t *testing.T) {
	cmdline := "console=hvc0 quiet pouch.agent_port=agent.0 panic=-1\n"
	if got := paramOf(cmdline, "pouch.agent_port"); got != "agent.0" {
		t.Fatalf("got %q", got)
	}
	if got := paramOf("quiet pouch.agent_portx=1", "pouch.agent_port"); got != "" {
		t.Fatalf("a longer key matched: %q", got)
	}
}
