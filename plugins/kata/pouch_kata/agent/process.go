package main

// The process table: containers (a root filesystem and the namespaces of
// their first process) and every process started in them, with their stdio
// carried as events. One reaper collects every child, including orphans when
// the agent is PID 1, and turns wait statuses into exit codes (128+N for
// signal N).

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// outputGrace bounds how long an exit event waits for the rest of the output
// (a background child may hold the pipe open long after the process exits).
const outputGrace = 2 * time.Second

type Container struct {
	ID       string
	Rootfs   string
	Hostname string
	Init     *Process
	Cgroup   string // its cgroup in the guest, "" without cgroup v2
}

type Process struct {
	ID       string
	PID      int
	Terminal bool
	stdin    *os.File // the pipe's write end, or the pty master
	pty      *os.File
	outputs  sync.WaitGroup
	exited   chan struct{}
	code     int
	// For a container's first process, until "start": see init.go.
	startW  *os.File
	statusR *os.File
	started bool
}

type Agent struct {
	mu         sync.Mutex
	containers map[string]*Container
	procs      map[string]*Process
	pidMu      sync.Mutex
	byPID      map[int]*Process
	helpers    map[int]chan int // the agent's own commands (runHelper)
	emit       func(v interface{})
	self       string
}

func NewAgent(emit func(v interface{})) *Agent {
	self, err := os.Executable()
	if err != nil {
		self = "/proc/self/exe"
	}
	return &Agent{
		containers: map[string]*Container{},
		procs:      map[string]*Process{},
		byPID:      map[int]*Process{},
		helpers:    map[int]chan int{},
		emit:       emit,
		self:       self,
	}
}

// Reap collects children forever; run it once, before any process starts.
func (a *Agent) Reap() {
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, syscall.SIGCHLD)
	go func() {
		for range sigs {
			for {
				var ws syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
				a.pidMu.Lock()
				p := a.byPID[pid]
				delete(a.byPID, pid)
				helper := a.helpers[pid]
				delete(a.helpers, pid)
				a.pidMu.Unlock()
				if helper != nil {
					helper <- exitCode(ws)
				}
				if p != nil {
					go a.finish(p, exitCode(ws))
				}
			}
		}
	}()
}

func exitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

func (a *Agent) finish(p *Process, code int) {
	done := make(chan struct{})
	go func() { p.outputs.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(outputGrace):
	}
	if p.stdin != nil {
		p.stdin.Close()
	}
	p.code = code
	oom := false
	a.mu.Lock()
	if c := a.containers[p.ID]; c != nil && c.Init == p {
		oom = oomKilled(c.Cgroup)
	}
	a.mu.Unlock()
	close(p.exited)
	a.emit(ExitEvent{Type: "exit", Process: p.ID, Code: code, OOM: oom})
}

// stdio makes the three descriptors of a new process and the agent's ends.
type stdio struct {
	child   [3]*os.File
	closers []*os.File // the child's ends, closed in the agent after the fork
}

func (a *Agent) newStdio(p *Process) (*stdio, error) {
	s := &stdio{}
	if p.Terminal {
		master, slave, err := openPty()
		if err != nil {
			return nil, err
		}
		p.stdin, p.pty = master, master
		s.child = [3]*os.File{slave, slave, slave}
		s.closers = []*os.File{slave}
		a.copyOutput(p, "stdout", master)
		return s, nil
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p.stdin = inW
	s.child = [3]*os.File{inR, outW, errW}
	s.closers = []*os.File{inR, outW, errW}
	a.copyOutput(p, "stdout", outR)
	a.copyOutput(p, "stderr", errR)
	return s, nil
}

func (s *stdio) fds() []uintptr {
	return []uintptr{s.child[0].Fd(), s.child[1].Fd(), s.child[2].Fd()}
}

func (s *stdio) closeChildEnds() {
	for _, f := range s.closers {
		f.Close()
	}
}

func (a *Agent) copyOutput(p *Process, stream string, r *os.File) {
	p.outputs.Add(1)
	go func() {
		defer p.outputs.Done()
		defer r.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				data := make([]byte, n)
				copy(data, buf[:n])
				a.emit(OutputEvent{Type: "output", Process: p.ID, Stream: stream, Data: data})
			}
			if err != nil { // EOF, or EIO from a pty whose last slave closed
				return
			}
		}
	}()
}

// fork starts a child and registers it before the reaper can look for it.
func (a *Agent) fork(p *Process, path string, argv []string, attr *syscall.ProcAttr) error {
	a.pidMu.Lock()
	defer a.pidMu.Unlock()
	pid, err := syscall.ForkExec(path, argv, attr)
	if err != nil {
		return err
	}
	p.PID = pid
	a.byPID[pid] = p
	return nil
}

func (a *Agent) lookup(id string) (*Process, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.procs[id]
	if p == nil {
		return nil, fmt.Errorf("no process %q", id)
	}
	return p, nil
}

func checkSpec(spec *ProcessSpec) error {
	if spec == nil || len(spec.Args) == 0 {
		return errors.New("spec.args must name a program")
	}
	return nil
}

// Create forks the container's first process into new namespaces; it stops
// before execve until Start.
func (a *Agent) Create(req *Request) (*Process, error) {
	if req.Container == "" || req.Rootfs == "" {
		return nil, errors.New("create needs container and rootfs")
	}
	if err := checkSpec(req.Spec); err != nil {
		return nil, err
	}
	if err := awaitRootfs(req.Rootfs); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.containers[req.Container] != nil || a.procs[req.Container] != nil {
		return nil, fmt.Errorf("container %q exists", req.Container)
	}
	p := &Process{ID: req.Container, Terminal: req.Spec.Terminal, exited: make(chan struct{})}
	cgroup, err := makeCgroup(req.Container, req.Resources)
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	cfg, _ := jsonString(initConfig{Rootfs: req.Rootfs, Hostname: req.Hostname, Spec: *req.Spec,
		Mounts: req.Mounts, Readonly: req.Readonly, Sysctls: req.Sysctls, Cgroup: cgroup,
		Masked: req.Masked, ReadOnly: req.ReadOnly})
	startR, startW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	s, err := a.newStdio(p)
	if err != nil {
		return nil, err
	}
	attr := &syscall.ProcAttr{
		Env:   []string{initEnv + "=" + cfg},
		Files: append(s.fds(), startR.Fd(), statusW.Fd()),
		Sys: &syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
			Setsid:     true,
			Setctty:    p.Terminal,
			Ctty:       0,
		},
	}
	err = a.fork(p, a.self, []string{"pouch-agent", "init"}, attr)
	s.closeChildEnds()
	startR.Close()
	statusW.Close()
	if err != nil {
		startW.Close()
		statusR.Close()
		p.stdin.Close()
		return nil, fmt.Errorf("fork: %w", err)
	}
	p.startW, p.statusR = startW, statusR
	if err := joinCgroup(cgroup, p.PID); err != nil {
		startW.Close()
		statusR.Close()
		syscall.Kill(p.PID, syscall.SIGKILL)
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	buf := make([]byte, 4096)
	n, _ := statusR.Read(buf)
	if n != 1 || buf[0] != 0 {
		msg, _ := io.ReadAll(statusR)
		startW.Close()
		statusR.Close()
		syscall.Kill(p.PID, syscall.SIGKILL)
		return nil, fmt.Errorf("container setup failed: %s", string(append(buf[:n], msg...)))
	}
	a.containers[req.Container] = &Container{ID: req.Container, Rootfs: req.Rootfs, Hostname: req.Hostname, Init: p, Cgroup: cgroup}
	a.procs[p.ID] = p
	return p, nil
}

// Start lets a created container's first process execve.
func (a *Agent) Start(id string) (*Process, error) {
	a.mu.Lock()
	c := a.containers[id]
	a.mu.Unlock()
	if c == nil {
		return nil, fmt.Errorf("no container %q", id)
	}
	p := c.Init
	if p.started {
		return nil, fmt.Errorf("container %q is already started", id)
	}
	p.started = true
	_, err := p.startW.Write([]byte{1})
	p.startW.Close()
	if err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	msg, _ := io.ReadAll(p.statusR) // EOF without a word: execve succeeded
	p.statusR.Close()
	if len(msg) > 0 {
		return nil, fmt.Errorf("start: %s", msg)
	}
	return p, nil
}

// Exec starts a further process in a running container's namespaces.
//
// setns into a mount namespace needs a thread that shares its filesystem
// attributes with no other (and a Go program always has several threads, a
// re-executed helper too); so one OS thread is locked, leaves the shared
// filesystem attributes with unshare(CLONE_FS), joins the container's
// namespaces and forks the process itself. The agent stays its parent, so
// the reaper collects its exit status. The thread is never unlocked: it dies
// with its goroutine instead of returning to the agent's other work.
func (a *Agent) Exec(req *Request) (*Process, error) {
	if req.Process == "" {
		return nil, errors.New("exec needs a process id")
	}
	if err := checkSpec(req.Spec); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.containers[req.Container]
	if c == nil {
		return nil, fmt.Errorf("no container %q", req.Container)
	}
	if !c.Init.started || isClosed(c.Init.exited) {
		return nil, fmt.Errorf("container %q is not running", req.Container)
	}
	if a.procs[req.Process] != nil {
		return nil, fmt.Errorf("process %q exists", req.Process)
	}
	spec := req.Spec
	path, err := lookPath(c.Rootfs, spec.Args[0], spec.Env)
	if err != nil {
		return nil, err
	}
	p := &Process{ID: req.Process, Terminal: spec.Terminal, exited: make(chan struct{})}
	s, err := a.newStdio(p)
	if err != nil {
		return nil, err
	}
	cwd := spec.Cwd
	if cwd == "" {
		cwd = "/"
	}
	attr := &syscall.ProcAttr{
		Dir:   cwd,
		Env:   spec.Env,
		Files: s.fds(),
		Sys: &syscall.SysProcAttr{
			Chroot:     c.Rootfs,
			Setsid:     true,
			Setctty:    p.Terminal,
			Ctty:       0,
			Credential: &syscall.Credential{Uid: spec.UID, Gid: spec.GID, Groups: []uint32{}},
		},
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- a.forkIn(c.Init.PID, p, path, spec.Args, attr, func() error { return confine(spec) })
	}()
	err = <-errc
	s.closeChildEnds()
	if err != nil {
		p.stdin.Close()
		return nil, err
	}
	joinCgroup(c.Cgroup, p.PID) // best effort: it may have exited already
	a.procs[p.ID] = p
	return p, nil
}

func (a *Agent) forkIn(pid int, p *Process, path string, argv []string, attr *syscall.ProcAttr, confine func() error) error {
	if err := syscall.Unshare(syscall.CLONE_FS); err != nil {
		return fmt.Errorf("unshare(CLONE_FS): %w", err)
	}
	var fds []int
	defer func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}()
	// Open them all first: after joining the mount namespace /proc/<pid> may be another.
	names := []string{"ipc", "uts", "pid", "mnt"}
	for _, ns := range names {
		fd, err := syscall.Open(fmt.Sprintf("/proc/%d/ns/%s", pid, ns), syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s namespace: %w", ns, err)
		}
		fds = append(fds, fd)
	}
	for i, fd := range fds {
		if _, _, errno := syscall.RawSyscall(sysSetns, uintptr(fd), 0, 0); errno != 0 {
			return fmt.Errorf("setns %s: %w", names[i], errno)
		}
	}
	// What the child inherits from this thread: the bounding set,
	// no_new_privs and the seccomp filter (all per thread).
	if err := confine(); err != nil {
		return err
	}
	if err := a.fork(p, path, argv, attr); err != nil {
		return fmt.Errorf("exec %s: %w", path, err)
	}
	return nil
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func (a *Agent) Signal(id string, sig int) error {
	p, err := a.lookup(id)
	if err != nil {
		return err
	}
	if sig <= 0 || sig > 64 {
		return fmt.Errorf("bad signal %d", sig)
	}
	if isClosed(p.exited) {
		return fmt.Errorf("process %q has exited", id)
	}
	return syscall.Kill(p.PID, syscall.Signal(sig))
}

func (a *Agent) Stdin(id string, data []byte, close bool) error {
	p, err := a.lookup(id)
	if err != nil {
		return err
	}
	if len(data) > 0 {
		if _, err := p.stdin.Write(data); err != nil {
			return fmt.Errorf("stdin of %q: %w", id, err)
		}
	}
	if close {
		if p.Terminal {
			_, err = p.stdin.Write([]byte{4}) // ^D: a terminal's end of input
			return err
		}
		return p.stdin.Close()
	}
	return nil
}

func (a *Agent) Resize(id string, rows, cols uint16) error {
	p, err := a.lookup(id)
	if err != nil {
		return err
	}
	if p.pty == nil {
		return fmt.Errorf("process %q has no terminal", id)
	}
	return resizePty(p.pty, rows, cols)
}

// KillAll ends every process the agent started (on shutdown).
func (a *Agent) KillAll() {
	a.pidMu.Lock()
	defer a.pidMu.Unlock()
	for pid := range a.byPID {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// runHelper runs a command of the agent's own (busybox ip …) to its end: its
// combined output, and an error unless it exits 0. The reaper, which takes
// every child, hands the exit code back.
func (a *Agent) runHelper(argv ...string) (string, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return "", err
	}
	defer r.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		w.Close()
		return "", err
	}
	defer null.Close()
	code := make(chan int, 1)
	attr := &syscall.ProcAttr{Env: []string{"PATH=/bin:/sbin"}, Files: []uintptr{null.Fd(), w.Fd(), w.Fd()}}
	a.pidMu.Lock()
	pid, err := syscall.ForkExec(argv[0], argv, attr)
	if err == nil {
		a.helpers[pid] = code
	}
	a.pidMu.Unlock()
	w.Close()
	if err != nil {
		return "", err
	}
	out, _ := io.ReadAll(r)
	if c := <-code; c != 0 {
		return string(out), fmt.Errorf("exit %d", c)
	}
	return string(out), nil
}

// Update changes a running container's limits.
func (a *Agent) Update(id string, r *Resources) error {
	c, err := a.container(id)
	if err != nil {
		return err
	}
	if c.Cgroup == "" {
		return errors.New("the guest has no cgroup v2")
	}
	return applyResources(c.Cgroup, r)
}

// Stats samples a container's cgroup.
func (a *Agent) Stats(id string) (StatsResult, error) {
	c, err := a.container(id)
	if err != nil {
		return StatsResult{}, err
	}
	return cgroupStats(c.Cgroup), nil
}

func (a *Agent) container(id string) (*Container, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.containers[id]
	if c == nil {
		return nil, fmt.Errorf("no container %q", id)
	}
	return c, nil
}
