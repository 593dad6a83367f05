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

// StartMosquitto starts a broker with its configuration and log in dir.
func StartMosquitto(dir string) (*Mosquitto, error) {
	bin, err := MosquittoPath()
	if err != nil {
		return nil, err
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	m := &Mosquitto{Addr: addr, dir: dir, bin: bin}
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
	text := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\nlog_dest file %s\n", port, filepath.Join(m.dir, "mosquitto.log"))
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
