package simulations

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// Mosquitto is a real Mosquitto broker process on a loopback port, for
// tests and simulated plants. Stop and Start again keep the port (a broker
// restart as devices see it).
type Mosquitto struct {
	// Addr is the broker's host:port.
	Addr string
	dir  string
	bin  string
	opts MosquittoOptions

	mu  sync.Mutex
	cmd *exec.Cmd
}

// MosquittoPath returns the mosquitto executable (PATH or /usr/sbin).
func MosquittoPath() (string, error) {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto", nil
	}
	return "", errors.New("simulations: mosquitto not found (apt-get install mosquitto; .ci/run does)")
}

// MosquittoOptions secure a broker: TLS on its listener and a password
// file. The zero value is a plain, anonymous broker.
type MosquittoOptions struct {
	// CertFile and KeyFile (PEM) make the listener TLS only.
	CertFile, KeyFile string
	// Users, when set, are the only logins accepted (user → password);
	// anonymous clients are refused.
	Users map[string]string
	// Addr is the loopback host:port to listen on ("": a free port).
	Addr string
}

// StartMosquitto starts a plain, anonymous broker with its configuration
// and log in dir.
func StartMosquitto(dir string) (*Mosquitto, error) {
	return StartMosquittoWith(dir, MosquittoOptions{})
}

// StartMosquittoWith starts a broker with TLS and logins as o says.
func StartMosquittoWith(dir string, o MosquittoOptions) (*Mosquitto, error) {
	bin, err := MosquittoPath()
	if err != nil {
		return nil, err
	}
	addr := o.Addr
	if addr == "" {
		if addr, err = freePort(); err != nil {
			return nil, err
		}
	}
	m := &Mosquitto{Addr: addr, dir: dir, bin: bin, opts: o}
	if len(o.Users) > 0 {
		if err := m.writePasswords(); err != nil {
			return nil, err
		}
	}
	return m, m.Start()
}

// Start (re)starts the broker process on m.Addr and waits until it
// accepts connections.
func (m *Mosquitto) Start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return errors.New("simulations: mosquitto already running")
	}
	_, port, _ := net.SplitHostPort(m.Addr)
	conf := filepath.Join(m.dir, "mosquitto.conf")
	text := fmt.Sprintf("listener %s 127.0.0.1\nset_tcp_nodelay true\npersistence false\nmax_queued_messages 100000\nlog_dest file %s\n", port, filepath.Join(m.dir, "mosquitto.log"))
	if os.Geteuid() == 0 {
		// Started as root, mosquitto drops to its own user and then cannot
		// read a test's private key or password file.
		text += "user root\n"
	}
	if m.opts.CertFile != "" {
		text += fmt.Sprintf("certfile %s\nkeyfile %s\n", m.opts.CertFile, m.opts.KeyFile)
	}
	if len(m.opts.Users) > 0 {
		text += fmt.Sprintf("allow_anonymous false\npassword_file %s\n", filepath.Join(m.dir, "passwords"))
	} else {
		text += "allow_anonymous true\n"
	}
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(m.bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("simulations: start mosquitto: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", m.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			log, _ := os.ReadFile(filepath.Join(m.dir, "mosquitto.log"))
			return fmt.Errorf("simulations: mosquitto on %s did not start: %v\n%s", m.Addr, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	m.cmd = cmd
	return nil
}

// writePasswords writes the password file with mosquitto_passwd.
func (m *Mosquitto) writePasswords() error {
	bin := filepath.Join(filepath.Dir(m.bin), "..", "bin", "mosquitto_passwd")
	if p, err := exec.LookPath("mosquitto_passwd"); err == nil {
		bin = p
	}
	file := filepath.Join(m.dir, "passwords")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		return err
	}
	for user, pass := range m.opts.Users {
		if out, err := exec.Command(bin, "-b", file, user, pass).CombinedOutput(); err != nil {
			return fmt.Errorf("simulations: mosquitto_passwd %s: %v: %s", user, err, out)
		}
	}
	return nil
}

// Stop kills the broker process (clients see the connection drop).
func (m *Mosquitto) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	m.cmd.Process.Kill()
	m.cmd.Wait()
	m.cmd = nil
}
