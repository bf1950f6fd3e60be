package main

// Serving one connection: read frames, dispatch requests, answer by id. A
// request that cannot be decoded or fails gets an error reply and the agent
// keeps serving; only a broken stream ends the connection.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// backlogLimit bounds the output kept while no host is connected (bytes of
// data); past it the oldest output events are dropped, exits never.
const backlogLimit = 4 << 20

type Server struct {
	agent *Agent
	mu    sync.Mutex
	out   *FrameWriter
	// Events while no host is connected, sent to the next connection first.
	backlog      []interface{}
	backlogBytes int
	// shutdown is called after the reply to a "shutdown" request is sent.
	shutdown func()
}

func NewServer(shutdown func()) *Server {
	s := &Server{shutdown: shutdown}
	s.agent = NewAgent(s.emit)
	return s
}

// emit sends an event on the current connection; with none, it is kept for
// the next one (within backlogLimit).
func (s *Server) emit(v interface{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out != nil {
		s.out.Write(v)
		return
	}
	s.backlog = append(s.backlog, v)
	if o, ok := v.(OutputEvent); ok {
		s.backlogBytes += len(o.Data)
	}
	for s.backlogBytes > backlogLimit {
		dropped := false
		for i, e := range s.backlog {
			if o, ok := e.(OutputEvent); ok {
				s.backlogBytes -= len(o.Data)
				s.backlog = append(s.backlog[:i], s.backlog[i+1:]...)
				dropped = true
				break
			}
		}
		if !dropped {
			break
		}
	}
}

func jsonString(v interface{}) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// Serve answers requests on rw until it ends; it returns nil at a clean EOF.
func (s *Server) Serve(rw io.ReadWriter) error {
	out := NewFrameWriter(rw)
	s.mu.Lock()
	for _, event := range s.backlog {
		out.Write(event)
	}
	s.backlog, s.backlogBytes = nil, 0
	s.out = out
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.out == out {
			s.out = nil
		}
		s.mu.Unlock()
	}()
	for {
		payload, err := ReadFrame(rw)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var req Request
		if err := json.Unmarshal(payload, &req); err != nil {
			out.Write(ErrorReply{ID: idOf(payload), Type: "error", Error: "bad request: " + err.Error()})
			continue
		}
		s.handle(out, &req)
	}
}

// idOf digs the id out of a request that does not decode as a whole, so
// the error still reaches the caller that waits for it.
func idOf(payload []byte) uint64 {
	var probe struct {
		ID uint64 `json:"id"`
	}
	json.Unmarshal(payload, &probe)
	return probe.ID
}

func (s *Server) handle(out *FrameWriter, req *Request) {
	reply := func(result interface{}, err error) {
		if err != nil {
			out.Write(ErrorReply{ID: req.ID, Type: "error", Error: err.Error()})
			return
		}
		out.Write(Reply{ID: req.ID, Type: "reply", Result: result})
	}
	a := s.agent
	switch req.Type {
	case "version":
		reply(VersionResult{Version: Version, Protocol: ProtocolVersion, PID: os.Getpid()}, nil)
	case "create":
		p, err := a.Create(req)
		reply(pidOf(p), err)
	case "start":
		p, err := a.Start(req.Container)
		reply(pidOf(p), err)
	case "exec":
		p, err := a.Exec(req)
		reply(pidOf(p), err)
	case "signal":
		reply(Empty{}, a.Signal(req.Process, req.Signal))
	case "wait":
		p, err := a.lookup(req.Process)
		if err != nil {
			reply(nil, err)
			return
		}
		go func() {
			<-p.exited
			reply(CodeResult{Code: p.code}, nil)
		}()
	case "network":
		if req.Network == nil {
			reply(nil, errors.New("network needs its settings"))
			return
		}
		reply(Empty{}, configureNetwork(*req.Network, a.runHelper))
	case "update":
		reply(Empty{}, a.Update(req.Container, req.Resources))
	case "stats":
		stats, err := a.Stats(req.Container)
		reply(stats, err)
	case "stdin":
		reply(Empty{}, a.Stdin(req.Process, req.Data, req.Close))
	case "resize":
		reply(Empty{}, a.Resize(req.Process, req.Rows, req.Cols))
	case "shutdown":
		a.KillAll()
		reply(Empty{}, nil)
		if s.shutdown != nil {
			s.shutdown()
		}
	case "":
		reply(nil, errors.New("request without a type"))
	default:
		reply(nil, fmt.Errorf("unknown request type %q", req.Type))
	}
}

func pidOf(p *Process) interface{} {
	if p == nil {
		return nil
	}
	return PIDResult{PID: p.PID}
}
