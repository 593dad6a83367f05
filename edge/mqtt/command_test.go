package mqtt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"

	"github.com/plantwin/plantwin/edge"
	"github.com/plantwin/plantwin/edge/edgetest"
	"github.com/plantwin/plantwin/simulations"
	"github.com/plantwin/plantwin/twins"
)

// commandYAML binds pumps to a connector with a response topic and valves
// to two without one (QoS 0 and 1). %[1]s is the broker's address.
const commandYAML = `
models:
  - name: pump
    properties:
      - {name: flow, type: double}
      - {name: speed, type: double, writable: true}
      - {name: mode, type: int, writable: true}
      - {name: label, type: string, writable: true}
      - {name: enabled, type: bool, writable: true}
    commands:
      - name: set_speed
        parameters:
          - {name: rpm, type: int}
          - {name: ratio, type: double}
          - {name: force, type: bool}
          - {name: reason, type: string, required: false}
      - name: stop
      - name: reset
twins:
  - id: pump-{1..2}
    model: pump
  - id: valve-{1..2}
    model: pump
connectors:
  - name: broker
    protocol: mqtt
    endpoint: tcp://%[1]s
    reconnect: {initial: 100ms, max: 1s}
    mqtt: {topic: "plant/{twin}/telemetry", command_topic: "plant/{twin}/commands", response_topic: "plant/{twin}/responses"}
  - name: plain-q0
    protocol: mqtt
    endpoint: tcp://%[1]s
    mqtt: {topic: "plain/{twin}/telemetry", command_topic: "plain/{twin}/commands", qos: 0}
  - name: plain-q1
    protocol: mqtt
    endpoint: tcp://%[1]s
    mqtt: {topic: "plain/{twin}/telemetry", command_topic: "plain/{twin}/commands", qos: 1}
bindings:
  - connector: broker
    twin: pump-{1..2}
    properties:
      flow: {field: flow}
    writes:
      speed:   {field: set.speed, scale: 0.5, offset: 2}
      mode:    {field: mode}
      label:   {field: id.label}
      enabled: {field: response_topic}
    commands:
      set_speed:
      stop: {topic: "plant/{twin}/stop/{n}"}
  - connector: plain-q0
    twin: valve-1
    writes:
      speed: {field: speed, scale: 2}
    commands:
      stop:
  - connector: plain-q1
    twin: valve-2
    commands:
      stop:
`

// received is a message the test device got.
type received struct {
	topic string
	raw   string
	msg   map[string]any // numbers as json.Number; nil if raw is not a JSON object
}

// device stands in for the plant's devices: a second MQTT client that
// takes the connector's messages on its filters and answers each with
// what its reply function returns. Its paho handler only hands messages
// to its own goroutine, which answers (paho's handler must not block).
type device struct {
	t          *testing.T
	client     paho.Client
	in         chan paho.Message // capacity 256; overflow fails the test
	got        chan received     // capacity 256; overflow fails the test
	overflow   atomic.Int64
	subscribed atomic.Int64 // acknowledged subscriptions, one per (re)connection
	stop       chan struct{}
	done       chan struct{}

	mu    sync.Mutex
	reply func(received) (topic, payload string) // topic "": no answer
}

// startDevice connects the device to the broker at addr; it subscribes to
// filters on every (re)connection and stops when the test ends.
func startDevice(t *testing.T, addr string, filters ...string) *device {
	t.Helper()
	d := &device{t: t, in: make(chan paho.Message, 256), got: make(chan received, 256),
		stop: make(chan struct{}), done: make(chan struct{})}
	subs := map[string]byte{}
	for _, f := range filters {
		subs[f] = 1
	}
	d.client = paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("test-device").
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond).
		SetMaxReconnectInterval(time.Second).
		SetOnConnectHandler(func(cl paho.Client) {
			tok := cl.SubscribeMultiple(subs, d.handle)
			go func() { // not in paho's goroutine
				if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
					d.subscribed.Add(1)
				}
			}()
		}))
	if tok := d.client.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("device connect: %v", tok.Error())
	}
	go d.serve()
	t.Cleanup(func() {
		close(d.stop)
		<-d.done
		d.client.Disconnect(100)
		if n := d.overflow.Load(); n > 0 {
			t.Errorf("the device dropped %d messages", n)
		}
	})
	waitFor(t, "device subscribed", func() bool { return d.subscribed.Load() >= 1 })
	return d
}

func (d *device) handle(_ paho.Client, m paho.Message) {
	select {
	case d.in <- m:
	default:
		d.overflow.Add(1)
	}
}

func (d *device) serve() {
	defer close(d.done)
	for {
		select {
		case <-d.stop:
			return
		case m := <-d.in:
			r := received{topic: m.Topic(), raw: string(m.Payload())}
			dec := json.NewDecoder(bytes.NewReader(m.Payload()))
			dec.UseNumber()
			if dec.Decode(&r.msg) != nil {
				r.msg = nil
			}
			select {
			case d.got <- r:
			default:
				d.overflow.Add(1)
			}
			d.mu.Lock()
			reply := d.reply
			d.mu.Unlock()
			if reply == nil {
				continue
			}
			if topic, payload := reply(r); topic != "" {
				d.publish(topic, payload)
			}
		}
	}
}

// setReply sets how the device answers (nil: it does not).
func (d *device) setReply(f func(received) (topic, payload string)) {
	d.mu.Lock()
	d.reply = f
	d.mu.Unlock()
}

// publish publishes a payload with QoS 1 and waits for the broker.
func (d *device) publish(topic, payload string) {
	if tok := d.client.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		d.t.Errorf("device publish to %s: %v", topic, tok.Error())
	}
}

// next returns the next message the device got.
func (d *device) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-d.got:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the device got no message within 10s")
		return received{}
	}
}

// answer returns a reply function that answers on the message's
// response_topic with the message's id, status and (if not "") message.
func answer(status, message string) func(received) (string, string) {
	return func(r received) (string, string) {
		id, _ := r.msg["id"].(string)
		topic, _ := r.msg["response_topic"].(string)
		if id == "" || topic == "" {
			return "", ""
		}
		resp := map[string]string{"id": id, "status": status}
		if message != "" {
			resp["message"] = message
		}
		b, _ := json.Marshal(resp)
		return topic, string(b)
	}
}

// withoutID checks that r's message has a correlation id of connector
// name and returns the message with the id replaced by "<id>".
func withoutID(t *testing.T, r received, name string) map[string]any {
	t.Helper()
	id, _ := r.msg["id"].(string)
	if !strings.HasPrefix(id, name+"-") {
		t.Fatalf("message %s: id %q does not start with %q", r.raw, id, name+"-")
	}
	m := map[string]any{}
	for k, v := range r.msg {
		m[k] = v
	}
	m["id"] = "<id>"
	return m
}

// startConnector starts the named connector of the node against the
// broker and waits until it is subscribed.
func startConnector(t *testing.T, node *edgetest.Node, name string) *Connector {
	t.Helper()
	cc, ok := node.Edge.Connector(name)
	if !ok {
		t.Fatalf("no connector %s", name)
	}
	c, err := New(cc, node.Edge.BindingsOf(name), edge.NewSink(node.Runtime), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	waitFor(t, name+" subscribed", func() bool { return c.Status().State == edge.StateConnected })
	return c
}

func pendingCount(c *Connector) int {
	c.pending.Lock()
	defer c.pending.Unlock()
	return len(c.pending.m)
}

func decodeErrors(t *testing.T, c *Connector) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.met.Decode.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func startBroker(t *testing.T) *simulations.Mosquitto {
	t.Helper()
	broker, err := simulations.StartMosquitto(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Stop)
	return broker
}

// TestCommandWithResponses runs commands and writes through a real
// Mosquitto to a device that answers on the response topic.
func TestCommandWithResponses(t *testing.T) {
	broker := startBroker(t)
	node := edgetest.Start(t, fmt.Sprintf(commandYAML, broker.Addr))
	conn := startConnector(t, node, "broker")
	dev := startDevice(t, broker.Addr, "plant/+/commands", "plant/+/stop/+")
	ctx := t.Context()
	setSpeed := []edge.Arg{
		{Name: "rpm", Value: twins.Int(1200)},
		{Name: "ratio", Value: twins.Double(0.5)},
		{Name: "force", Value: twins.Bool(true)},
		{Name: "reason", Value: twins.String("ramp <up> & go")},
	}

	t.Run("answered ok", func(t *testing.T) {
		dev.setReply(answer("ok", ""))
		if err := conn.Command(ctx, "pump-1", "set_speed", setSpeed); err != nil {
			t.Fatal(err)
		}
		r := dev.next(t)
		want := map[string]any{
			"id": "<id>", "twin": "pump-1", "command": "set_speed", "response_topic": "plant/pump-1/responses",
			"args": map[string]any{"rpm": json.Number("1200"), "ratio": json.Number("0.5"), "force": true, "reason": "ramp <up> & go"},
		}
		if r.topic != "plant/pump-1/commands" {
			t.Errorf("topic %s, want plant/pump-1/commands", r.topic)
		}
		if diff := cmp.Diff(want, withoutID(t, r, "broker")); diff != "" {
			t.Errorf("command message (-want +got):\n%s", diff)
		}
		// The binding's own topic, {twin} and {n} expanded; ids differ.
		if err := conn.Command(ctx, "pump-2", "stop", nil); err != nil {
			t.Fatal(err)
		}
		r2 := dev.next(t)
		want = map[string]any{"id": "<id>", "twin": "pump-2", "command": "stop", "args": map[string]any{}, "response_topic": "plant/pump-2/responses"}
		if r2.topic != "plant/pump-2/stop/2" {
			t.Errorf("topic %s, want plant/pump-2/stop/2", r2.topic)
		}
		if diff := cmp.Diff(want, withoutID(t, r2, "broker")); diff != "" {
			t.Errorf("stop message (-want +got):\n%s", diff)
		}
		if r.msg["id"] == r2.msg["id"] {
			t.Errorf("two commands with the id %v", r.msg["id"])
		}
	})

	t.Run("answered error", func(t *testing.T) {
		dev.setReply(answer("error", "motor overheated"))
		err := conn.Command(ctx, "pump-1", "set_speed", setSpeed)
		var de *DeviceError
		if !errors.Is(err, ErrDeviceRefused) || !errors.As(err, &de) || de.Message != "motor overheated" {
			t.Fatalf("got %v, want a DeviceError with the device's message", err)
		}
		if want := "mqtt: twin pump-1 command set_speed: device answered error: motor overheated"; err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
		dev.next(t)
	})

	t.Run("answered malformed", func(t *testing.T) {
		before := decodeErrors(t, conn)
		dev.setReply(func(r received) (string, string) {
			return "plant/pump-1/responses", fmt.Sprintf(`{"id": %q, "status": "maybe"}`, r.msg["id"])
		})
		err := conn.Command(ctx, "pump-1", "stop", nil)
		if err == nil || !strings.Contains(err.Error(), `malformed response`) || !strings.Contains(err.Error(), `"maybe"`) || errors.Is(err, ErrDeviceRefused) {
			t.Fatalf("got %v, want a malformed response error", err)
		}
		if got := decodeErrors(t, conn); got != before+1 {
			t.Errorf("decode errors %v, want %v", got, before+1)
		}
		dev.next(t)
	})

	t.Run("no answer", func(t *testing.T) {
		dev.setReply(nil)
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		deadline, _ := cctx.Deadline()
		err := conn.Command(cctx, "pump-1", "stop", nil)
		late := time.Since(deadline)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no response from device") {
			t.Fatalf("got %v, want no response and the deadline", err)
		}
		if late > 2*time.Second {
			t.Errorf("returned %v after the deadline", late)
		}
		if n := pendingCount(conn); n != 0 {
			t.Errorf("%d waiters left", n)
		}
		dev.next(t)
	})

	t.Run("answer on another twin's topic", func(t *testing.T) {
		before := conn.UnmatchedResponses()
		dev.setReply(func(r received) (string, string) {
			topic, payload := answer("ok", "")(r)
			return strings.Replace(topic, "pump-1", "pump-2", 1), payload
		})
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		if err := conn.Command(cctx, "pump-1", "stop", nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want no response", err)
		}
		waitFor(t, "the response counted unmatched", func() bool { return conn.UnmatchedResponses() == before+1 })
		dev.next(t)
	})

	t.Run("write scaled", func(t *testing.T) {
		dev.setReply(answer("ok", ""))
		if err := conn.Write(ctx, "pump-1", "speed", twins.Double(12.5)); err != nil {
			t.Fatal(err)
		}
		r := dev.next(t)
		want := map[string]any{"id": "<id>", "response_topic": "plant/pump-1/responses", "set": map[string]any{"speed": json.Number("21")}}
		if r.topic != "plant/pump-1/commands" {
			t.Errorf("topic %s, want plant/pump-1/commands", r.topic)
		}
		if diff := cmp.Diff(want, withoutID(t, r, "broker")); diff != "" {
			t.Errorf("write message (-want +got):\n%s", diff)
		}
		if err := conn.Write(ctx, "pump-2", "mode", twins.Int(3)); err != nil {
			t.Fatal(err)
		}
		if r := dev.next(t); !strings.Contains(r.raw, `"mode":3`) {
			t.Errorf("int write %s, want \"mode\":3", r.raw)
		}
	})

	t.Run("write refused", func(t *testing.T) {
		dev.setReply(answer("error", "out of range"))
		err := conn.Write(ctx, "pump-1", "speed", twins.Double(1e6))
		if !errors.Is(err, ErrDeviceRefused) || err.Error() != "mqtt: twin pump-1 property speed: device answered error: out of range" {
			t.Fatalf("got %v", err)
		}
		dev.next(t)
	})

	t.Run("write whose field takes id", func(t *testing.T) {
		dev.setReply(answer("ok", "")) // cannot: the message has no id
		if err := conn.Write(ctx, "pump-1", "label", twins.String("P1")); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"id": map[string]any{"label": "P1"}, "response_topic": "plant/pump-1/responses"}
		if diff := cmp.Diff(want, dev.next(t).msg); diff != "" {
			t.Errorf("write message (-want +got):\n%s", diff)
		}
		// A field on response_topic: the id stays, the device answers
		// where it knows to.
		dev.setReply(func(r received) (string, string) {
			_, payload := answer("ok", "")(received{msg: map[string]any{"id": r.msg["id"], "response_topic": "x"}})
			return "plant/pump-1/responses", payload
		})
		if err := conn.Write(ctx, "pump-1", "enabled", twins.Bool(true)); err != nil {
			t.Fatal(err)
		}
		if r := dev.next(t); r.msg["response_topic"] != true {
			t.Errorf("write message %s, want response_topic true", r.raw)
		}
	})

	t.Run("unbound", func(t *testing.T) {
		for _, err := range []error{
			conn.Command(ctx, "pump-1", "reset", nil),
			conn.Command(ctx, "pump-9", "stop", nil),
			conn.Write(ctx, "pump-1", "flow", twins.Double(1)),
		} {
			if !errors.Is(err, ErrNotBound) || !strings.Contains(err.Error(), "twin pump-") {
				t.Errorf("got %v, want ErrNotBound naming the twin", err)
			}
		}
	})

	t.Run("bad responses then a good command", func(t *testing.T) {
		unmatched, bad := conn.UnmatchedResponses(), decodeErrors(t, conn)
		dev.setReply(nil)
		dev.publish("plant/pump-1/responses", `{"id": "broker-0000000000000000-1", "status": "ok"}`)
		dev.publish("plant/pump-1/responses", `{"id": 5, "status": "ok"}`)
		dev.publish("plant/pump-2/responses", `not json`)
		waitFor(t, "bad responses counted", func() bool {
			return conn.UnmatchedResponses() == unmatched+1 && decodeErrors(t, conn) == bad+2
		})
		dev.setReply(answer("ok", ""))
		if err := conn.Command(ctx, "pump-2", "set_speed", setSpeed); err != nil {
			t.Fatal(err)
		}
		dev.next(t)
		if st := conn.Status(); st.LastError == "" {
			t.Errorf("status without the last bad response: %+v", st)
		}
	})

	t.Run("stop ends pending commands", func(t *testing.T) {
		dev.setReply(nil)
		errc := make(chan error, 1)
		go func() { errc <- conn.Command(ctx, "pump-1", "stop", nil) }()
		waitFor(t, "command pending", func() bool { return pendingCount(conn) == 1 })
		dev.next(t)
		conn.Stop()
		if err := <-errc; !errors.Is(err, ErrStopped) {
			t.Fatalf("pending command: %v, want ErrStopped", err)
		}
		if err := conn.Command(ctx, "pump-1", "stop", nil); !errors.Is(err, ErrStopped) {
			t.Fatalf("command after Stop: %v, want ErrStopped", err)
		}
		if err := conn.Write(ctx, "pump-1", "mode", twins.Int(1)); !errors.Is(err, ErrStopped) {
			t.Fatalf("write after Stop: %v, want ErrStopped", err)
		}
		if n := pendingCount(conn); n != 0 {
			t.Errorf("%d waiters left", n)
		}
	})
}

// TestCommandBrokerDown: while the broker is down, commands and writes
// fail at once with ErrNotConnected; they work again once it is back.
func TestCommandBrokerDown(t *testing.T) {
	broker := startBroker(t)
	node := edgetest.Start(t, fmt.Sprintf(commandYAML, broker.Addr))
	conn := startConnector(t, node, "broker")
	dev := startDevice(t, broker.Addr, "plant/+/commands")
	dev.setReply(answer("ok", ""))
	ctx := t.Context()

	broker.Stop()
	waitFor(t, "connection lost", func() bool { return conn.Status().State == edge.StateDisconnected })
	if err := conn.Command(ctx, "pump-1", "set_speed", nil); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("command while down: %v, want ErrNotConnected", err)
	}
	if err := conn.Write(ctx, "pump-1", "speed", twins.Double(3)); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("write while down: %v, want ErrNotConnected", err)
	}
	if err := broker.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "resubscribed", func() bool { return conn.Status().State == edge.StateConnected })
	waitFor(t, "device resubscribed", func() bool { return dev.subscribed.Load() >= 2 })
	if err := conn.Command(ctx, "pump-1", "set_speed", nil); err != nil {
		t.Fatalf("command after the restart: %v", err)
	}
	if r := dev.next(t); r.msg["twin"] != "pump-1" {
		t.Errorf("device got %s", r.raw)
	}
}

// TestCommandWithoutResponseTopic: without a response topic a command or
// write completes when the broker took it (QoS 1) or it was sent (QoS 0).
func TestCommandWithoutResponseTopic(t *testing.T) {
	broker := startBroker(t)
	node := edgetest.Start(t, fmt.Sprintf(commandYAML, broker.Addr))
	dev := startDevice(t, broker.Addr, "plain/+/commands")
	ctx := t.Context()
	for _, tc := range []struct{ connector, twin string }{{"plain-q0", "valve-1"}, {"plain-q1", "valve-2"}} {
		t.Run(tc.connector, func(t *testing.T) {
			conn := startConnector(t, node, tc.connector)
			if err := conn.Command(ctx, tc.twin, "stop", []edge.Arg{{Name: "reason"}}); err != nil {
				t.Fatal(err)
			}
			r := dev.next(t)
			want := map[string]any{"id": "<id>", "twin": tc.twin, "command": "stop", "args": map[string]any{}}
			if r.topic != "plain/"+tc.twin+"/commands" {
				t.Errorf("topic %s", r.topic)
			}
			if diff := cmp.Diff(want, withoutID(t, r, tc.connector)); diff != "" {
				t.Errorf("command message (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("write", func(t *testing.T) {
		conn := startConnector(t, node, "plain-q0")
		if err := conn.Write(ctx, "valve-1", "speed", twins.Int(7)); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"id": "<id>", "speed": json.Number("3.5")}
		if diff := cmp.Diff(want, withoutID(t, dev.next(t), "plain-q0")); diff != "" {
			t.Errorf("write message (-want +got):\n%s", diff)
		}
	})
}

func TestCommandDecodeResponse(t *testing.T) {
	tests := []struct {
		name, in string
		want     response
		wantErr  string // "" for none
	}{
		{"ok", `{"id": "a-1", "status": "ok"}`, response{ID: "a-1", Status: "ok"}, ""},
		{"error with message", `{"id": "a-2", "status": "error", "message": "jammed", "extra": [1]}`, response{ID: "a-2", Status: "error", Message: "jammed"}, ""},
		{"null message", `{"id": "a-3", "status": "ok", "message": null}`, response{ID: "a-3", Status: "ok"}, ""},
		{"no id", `{"status": "ok"}`, response{}, `mqtt: response field "id": want a non-empty string, got none`},
		{"empty id", `{"id": "", "status": "ok"}`, response{}, `mqtt: response field "id": want a non-empty string, got an empty string`},
		{"numeric id", `{"id": 7, "status": "ok"}`, response{}, `mqtt: response field "id": want a non-empty string, got a number`},
		{"bad status", `{"id": "a-4", "status": "OK"}`, response{ID: "a-4"}, `mqtt: response field "status": want "ok" or "error", got "OK"`},
		{"no status", `{"id": "a-5"}`, response{ID: "a-5"}, `mqtt: response field "status": want "ok" or "error", got none`},
		{"bad message", `{"id": "a-6", "status": "error", "message": {"x": 1}}`, response{ID: "a-6", Status: "error"}, `mqtt: response field "message": want a string, got an object`},
		{"not json", `ok`, response{}, `mqtt: payload: invalid character 'o' looking for beginning of value at byte 0`},
		{"array", `[]`, response{}, `mqtt: payload: top level is an array, want an object`},
		{"empty", ``, response{}, `mqtt: payload is empty (want a JSON object)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeResponse([]byte(tc.in))
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tc.wantErr {
				t.Errorf("error %q, want %q", gotErr, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCommandWritePayload(t *testing.T) {
	tests := []struct {
		name       string
		field      string
		scale, off float64
		v          twins.Value
		respTopic  string
		want       string
		wantID     bool
		wantErr    string
	}{
		{"scaled double", "set.speed", 0.5, 2, twins.Double(12.5), "r/p", `{"id":"X","response_topic":"r/p","set":{"speed":21}}`, true, ""},
		{"scaled int", "v", 10, 0, twins.Int(5), "", `{"id":"X","v":0.5}`, true, ""},
		{"plain int", "a.b.c", 1, 0, twins.Int(-3), "", `{"a":{"b":{"c":-3}},"id":"X"}`, true, ""},
		{"zero scale is one", "v", 0, 0, twins.Int(4), "", `{"id":"X","v":4}`, true, ""},
		{"bool unscaled", "on", 2, 1, twins.Bool(true), "", `{"id":"X","on":true}`, true, ""},
		{"enum", "mode", 1, 0, twins.Enum("auto"), "", `{"id":"X","mode":"auto"}`, true, ""},
		{"numeric segment", "values.0", 1, 0, twins.String("<a&b>"), "", `{"id":"X","values":{"0":"<a&b>"}}`, true, ""},
		{"field takes id", "id", 1, 0, twins.Int(1), "r/p", `{"id":1,"response_topic":"r/p"}`, false, ""},
		{"field takes response_topic", "response_topic.x", 1, 0, twins.Int(1), "r/p", `{"id":"X","response_topic":{"x":1}}`, true, ""},
		{"nan", "v", 1, 0, twins.Double(math.NaN()), "", "", false, "the double NaN has no JSON form"},
		{"overflow", "v", 1e-320, 0, twins.Double(1e300), "", "", false, "value 1e+300 with scale 1e-320 and offset 0 gives +Inf"},
		{"no value", "v", 1, 0, twins.Value{}, "", "", false, "no value (type none)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wt := writeTarget{path: strings.Split(tc.field, "."), scale: tc.scale, offset: tc.off}
			got, withID, err := writePayload(wt, tc.v, "X", tc.respTopic)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want || withID != tc.wantID {
				t.Errorf("got %s (id %v), want %s (id %v)", got, withID, tc.want, tc.wantID)
			}
		})
	}
}

func TestCommandPayload(t *testing.T) {
	got, err := commandPayload("c-1", "pump-1", "go", []edge.Arg{
		{Name: "n", Value: twins.Int(math.MaxInt64)},
		{Name: "x", Value: twins.Double(0.1)},
		{Name: "skip"},
		{Name: "s", Value: twins.String("a\"b")},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"c-1","twin":"pump-1","command":"go","args":{"n":9223372036854775807,"s":"a\"b","x":0.1}}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if _, err := commandPayload("c-2", "pump-1", "go", []edge.Arg{{Name: "x", Value: twins.Double(math.Inf(1))}}, ""); err == nil ||
		err.Error() != "argument x: the double +Inf has no JSON form" {
		t.Errorf("infinite argument: %v", err)
	}
}
