package main

// The messages of the protocol. Requests carry an id and a type; the agent
// answers each with {"id", "type": "reply", "result"} or
// {"id", "type": "error", "error"}. Events carry no id.

// ProtocolVersion changes when a message changes incompatibly.
const ProtocolVersion = 1

// Version of the agent itself.
const Version = "0.1.0"

// Request is every request's envelope; which fields count depends on Type.
type Request struct {
	ID        uint64            `json:"id"`
	Type      string            `json:"type"`
	Container string            `json:"container,omitempty"`
	Process   string            `json:"process,omitempty"`
	Rootfs    string            `json:"rootfs,omitempty"`
	Hostname  string            `json:"hostname,omitempty"`
	Mounts    []Mount           `json:"mounts,omitempty"`
	Network   *NetworkRequest   `json:"network,omitempty"`
	Readonly  bool              `json:"readonly,omitempty"`
	Sysctls   map[string]string `json:"sysctls,omitempty"`
	Resources *Resources        `json:"resources,omitempty"`
	Masked    []string          `json:"masked_paths,omitempty"`
	ReadOnly  []string          `json:"readonly_paths,omitempty"`
	Spec      *ProcessSpec      `json:"spec,omitempty"`
	Signal    int               `json:"signal,omitempty"`
	Data      []byte            `json:"data,omitempty"`
	Close     bool              `json:"close,omitempty"`
	Rows      uint16            `json:"rows,omitempty"`
	Cols      uint16            `json:"cols,omitempty"`
}

// ProcessSpec is what to run: the part of an OCI process this increment knows.
type ProcessSpec struct {
	Args            []string      `json:"args"`
	Env             []string      `json:"env,omitempty"`
	Cwd             string        `json:"cwd,omitempty"`
	Terminal        bool          `json:"terminal,omitempty"`
	UID             uint32        `json:"uid,omitempty"`
	GID             uint32        `json:"gid,omitempty"`
	Capabilities    *Capabilities `json:"capabilities,omitempty"`
	NoNewPrivileges bool          `json:"no_new_privileges,omitempty"`
	// A classic BPF program (struct sock_filter[]) the host compiled.
	Seccomp []byte `json:"seccomp,omitempty"`
}

// Mount is one mount of the container's (an OCI mount whose bind source the
// host has already shared into the guest).
type Mount struct {
	Destination string   `json:"destination"`
	Type        string   `json:"type,omitempty"`
	Source      string   `json:"source,omitempty"`
	Options     []string `json:"options,omitempty"`
}

type Reply struct {
	ID     uint64      `json:"id"`
	Type   string      `json:"type"`
	Result interface{} `json:"result"`
}

type ErrorReply struct {
	ID    uint64 `json:"id"`
	Type  string `json:"type"`
	Error string `json:"error"`
}

type OutputEvent struct {
	Type    string `json:"type"`
	Process string `json:"process"`
	Stream  string `json:"stream"`
	Data    []byte `json:"data"`
}

type ExitEvent struct {
	Type    string `json:"type"`
	Process string `json:"process"`
	Code    int    `json:"code"`
	OOM     bool   `json:"oom,omitempty"`
}

type VersionResult struct {
	Version  string `json:"version"`
	Protocol int    `json:"protocol"`
	PID      int    `json:"pid"`
}

type PIDResult struct {
	PID int `json:"pid"`
}

type CodeResult struct {
	Code int `json:"code"`
}

type Empty struct{}
