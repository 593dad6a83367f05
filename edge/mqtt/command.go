package mqtt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"unicode/utf8"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/plantwin/plantwin/edge"
	"github.com/plantwin/plantwin/twins"
)

// Commands and writes go out as JSON messages and, when the connector has
// a response_topic, come back as JSON responses matched by a correlation
// id.
//
// A command of twin pump-1 is published to its binding's topic (default
// the connector's command_topic for the twin) as
//
//	{"id":"<correlation id>","twin":"pump-1","command":"set_speed","args":{"reason":"ramp","rpm":1200},"response_topic":"plant/pump-1/responses"}
//
// in this key order. args holds the command's arguments by parameter
// name, keys sorted, as JSON booleans, numbers (ints exact, doubles in the
// shortest form that reads back the same) and strings (enums as their
// symbol); a parameter without a value is left out, and args is {}
// without any. response_topic is the connector's response topic for the
// twin, left out when the connector has none.
//
// A write of a property bound with field set.speed, scale 0.5 and offset
// 2 sends the twin's value 12.5 to the connector's command_topic for the
// twin as
//
//	{"id":"<correlation id>","response_topic":"plant/pump-1/responses","set":{"speed":21}}
//
// (keys sorted at every level): the value at the field path (every
// segment an object key, also a numeric one), a number mapped back by
// (value-offset)/scale (an int with scale 1 and offset 0 stays an int;
// bools and strings as they are). "id" and "response_topic" are added
// only when the field path does not start with that key, and
// response_topic only when the connector has one. A write without "id"
// cannot be answered and completes when the broker took it.
//
// The device answers on the twin's response topic (plant/pump-1/responses
// for plant/{twin}/responses) with
//
//	{"id":"<the correlation id>","status":"ok"}
//	{"id":"<the correlation id>","status":"error","message":"motor overheated"}
//
// Other fields are ignored; message may be left out or null. Correlation
// ids are the connector's name, a random 64-bit number chosen when the
// connector is built and a counter, "broker-9f86d081884c7d65-2a": unique
// within the process and, with high probability, across restarts.

// ErrDeviceRefused is wrapped by the error of a command or write that the
// device answered with status "error" (a *DeviceError).
var ErrDeviceRefused = errors.New("mqtt: device refused")

// Errors of writes and commands: the edge package's, so that callers
// handle every protocol alike.
var (
	ErrNotConnected = edge.ErrNotConnected
	ErrNotBound     = edge.ErrNotBound
	ErrStopped      = edge.ErrStopped
)

var _ edge.Commander = (*Connector)(nil)

// maxErrorMessage is how much of a device's message a DeviceError's text
// shows, in bytes.
const maxErrorMessage = 512

// DeviceError is a device's answer with status "error" to a command or a
// write. It unwraps to ErrDeviceRefused.
type DeviceError struct {
	TwinID string
	// Command is the refused command, or Property the property whose
	// write was refused.
	Command, Property string
	// Message is the response's message, "" when it had none.
	Message string
}

func (e *DeviceError) Error() string {
	op := "command " + e.Command
	if e.Command == "" {
		op = "property " + e.Property
	}
	if e.Message == "" {
		return fmt.Sprintf("mqtt: twin %s %s: device answered error", e.TwinID, op)
	}
	return fmt.Sprintf("mqtt: twin %s %s: device answered error: %s", e.TwinID, op, clip(e.Message, maxErrorMessage))
}

// Unwrap returns ErrDeviceRefused.
func (e *DeviceError) Unwrap() error { return ErrDeviceRefused }

// commandTarget is where a bound command goes.
type commandTarget struct {
	topic string // expanded by the config parser
}

// writeTarget is where a bound write goes.
type writeTarget struct {
	path          []string // the field path's segments
	scale, offset float64
}

// waiter is a command or write waiting for its response.
type waiter struct {
	twinID string
	done   chan result // capacity 1; the response worker sends once
}

// result is what the response worker hands to a waiter: the response, or
// why it could not be read.
type result struct {
	resp response
	err  error
}

// response is a device's answer to a command or write.
type response struct {
	ID      string
	Status  string // "ok" or "error"
	Message string
}

// indexCommands records the commands and writes of the bindings and
// parses the command and response topics.
func (c *Connector) indexCommands(bindings []*edge.Binding) error {
	if c.mq.CommandTopic != "" {
		p, err := ParseTopicPattern(c.mq.CommandTopic)
		if err != nil {
			return fmt.Errorf("mqtt: connector %s: command_topic: %w", c.cfg.Name, err)
		}
		c.cmdTopic = &p
	}
	c.respDone = make(chan struct{})
	if c.mq.ResponseTopic != "" {
		p, err := ParseTopicPattern(c.mq.ResponseTopic)
		if err != nil {
			return fmt.Errorf("mqtt: connector %s: response_topic: %w", c.cfg.Name, err)
		}
		c.respTopic = &p
		c.resps = make(chan paho.Message, responseQueueSize)
	} else {
		close(c.respDone)
	}
	c.idPrefix = fmt.Sprintf("%s-%016x-", c.cfg.Name, rand.Uint64())
	c.pending.m = map[string]*waiter{}
	c.commands, c.writes = map[string]commandTarget{}, map[string]writeTarget{}
	for _, b := range bindings {
		for _, cmd := range b.Commands {
			c.commands[b.TwinID+"\x00"+cmd.Command] = commandTarget{topic: cmd.Topic}
		}
		for _, w := range b.Writes {
			if c.cmdTopic == nil {
				return fmt.Errorf("mqtt: connector %s: twin %s write %s: the connector has no command_topic", c.cfg.Name, b.TwinID, w.Property)
			}
			c.writes[b.TwinID+"\x00"+w.Property] = writeTarget{path: strings.Split(w.Field, "."), scale: w.Scale, offset: w.Offset}
		}
	}
	return nil
}

// Command publishes a twin's command with its arguments (see the payload
// above) and, when the connector has a response_topic, waits for the
// device's answer; without one it returns once the broker acknowledged
// the message (QoS 1) or it was written to the connection (QoS 0). It
// fails with ErrNotBound, ErrNotConnected (nothing was sent), ErrStopped,
// a *DeviceError (ErrDeviceRefused), or the context's error ("no response
// from device" when the message went out but no answer came). A message
// the broker has not acknowledged when ctx ends may still be delivered
// later.
func (c *Connector) Command(ctx context.Context, twinID, command string, args []edge.Arg) error {
	op := "twin " + twinID + " command " + command
	if c.stopped() {
		return fmt.Errorf("mqtt: %s: %w", op, ErrStopped)
	}
	t, ok := c.commands[twinID+"\x00"+command]
	if !ok {
		return fmt.Errorf("mqtt: %s: %w", op, ErrNotBound)
	}
	id := c.newID()
	payload, err := commandPayload(id, twinID, command, args, c.responseTopic(twinID))
	if err != nil {
		return fmt.Errorf("mqtt: %s: %w", op, err)
	}
	return c.exchange(ctx, op, twinID, t.topic, id, payload, c.respTopic != nil, func(r response) error {
		return &DeviceError{TwinID: twinID, Command: command, Message: r.Message}
	})
}

// Write publishes a desired value of a twin's writable property to the
// connector's command_topic (see the payload above) and waits like
// Command: for the answer when the connector has a response_topic (and the
// message has an id), else for the broker.
func (c *Connector) Write(ctx context.Context, twinID, property string, v twins.Value) error {
	op := "twin " + twinID + " property " + property
	if c.stopped() {
		return fmt.Errorf("mqtt: %s: %w", op, ErrStopped)
	}
	t, ok := c.writes[twinID+"\x00"+property]
	if !ok {
		return fmt.Errorf("mqtt: %s: %w", op, ErrNotBound)
	}
	id := c.newID()
	payload, withID, err := writePayload(t, v, id, c.responseTopic(twinID))
	if err != nil {
		return fmt.Errorf("mqtt: %s: %w", op, err)
	}
	return c.exchange(ctx, op, twinID, c.cmdTopic.Topic(twinID), id, payload, c.respTopic != nil && withID, func(r response) error {
		return &DeviceError{TwinID: twinID, Property: property, Message: r.Message}
	})
}

// UnmatchedResponses returns how many well-formed responses named no
// pending command or write: unknown or expired correlation ids, or a
// response on another twin's topic.
func (c *Connector) UnmatchedResponses() int64 { return c.unmatched.Load() }

// stopped reports whether Stop was called.
func (c *Connector) stopped() bool {
	select {
	case <-c.stopC:
		return true
	default:
		return false
	}
}

// newID returns a fresh correlation id.
func (c *Connector) newID() string {
	return c.idPrefix + strconv.FormatUint(c.nextID.Add(1), 16)
}

// responseTopic is the concrete response topic of a twin, "" when the
// connector has none.
func (c *Connector) responseTopic(twinID string) string {
	if c.respTopic == nil {
		return ""
	}
	return c.respTopic.Topic(twinID)
}

// ready reports whether the connection is open and, when a response is
// awaited, its subscriptions acknowledged (a response must not arrive
// before the subscription that takes it).
func (c *Connector) ready(awaitResponse bool) bool {
	if c.client == nil || !c.client.IsConnectionOpen() {
		return false
	}
	if !awaitResponse {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.subscribed
}

// exchange publishes payload to topic and, with awaitResponse, waits for
// the response with correlation id; refused builds the error of a
// response with status "error".
func (c *Connector) exchange(ctx context.Context, op, twinID, topic, id string, payload []byte, awaitResponse bool, refused func(response) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mqtt: %s: %w", op, err)
	}
	if !c.ready(awaitResponse) {
		return fmt.Errorf("mqtt: %s: %w", op, ErrNotConnected)
	}
	var w *waiter
	if awaitResponse {
		// Registered before publishing: the answer may beat the PUBACK.
		w = &waiter{twinID: twinID, done: make(chan result, 1)}
		c.pending.Lock()
		c.pending.m[id] = w
		c.pending.Unlock()
		defer func() {
			c.pending.Lock()
			delete(c.pending.m, id)
			c.pending.Unlock()
		}()
	}
	tok := c.client.Publish(topic, c.mq.QoS, false, payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			if errors.Is(err, paho.ErrNotConnected) {
				return fmt.Errorf("mqtt: %s: publish to %s: %w (%w)", op, topic, ErrNotConnected, err)
			}
			return fmt.Errorf("mqtt: %s: publish to %s: %w", op, topic, err)
		}
	case <-ctx.Done():
		return fmt.Errorf("mqtt: %s: publish to %s: %w", op, topic, ctx.Err())
	case <-c.stopC:
		return fmt.Errorf("mqtt: %s: %w", op, ErrStopped)
	}
	if w == nil {
		return nil
	}
	select {
	case res := <-w.done:
		switch {
		case res.err != nil:
			return fmt.Errorf("mqtt: %s: device answered with a malformed response: %w", op, res.err)
		case res.resp.Status == statusError:
			return refused(res.resp)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mqtt: %s: no response from device on %s: %w", op, c.respTopic.Topic(twinID), ctx.Err())
	case <-c.stopC:
		return fmt.Errorf("mqtt: %s: %w", op, ErrStopped)
	}
}

// handleResponse is paho's callback for the response topic: hand off and
// return.
func (c *Connector) handleResponse(_ paho.Client, m paho.Message) {
	select {
	case c.resps <- m:
	default:
		c.dropped.Add(1)
	}
}

// respond matches responses with the pending commands and writes.
func (c *Connector) respond() {
	defer edge.Recover(c.panicked)
	defer close(c.respDone)
	for {
		select {
		case <-c.stopC:
			return
		case m := <-c.resps:
			c.answer(m.Topic(), m.Payload())
		}
	}
}

// answer hands one response to the command or write waiting for it. A
// malformed response is counted as bad input; if it still names a
// pending command of the twin, that command fails with its problem rather
// than waiting for its context to end.
func (c *Connector) answer(topic string, payload []byte) {
	twinID, _ := c.respTopic.Twin(topic)
	r, err := decodeResponse(payload)
	if err != nil {
		c.met.Decode.Inc()
		c.noteError(fmt.Errorf("mqtt: response topic %s: %w", topic, err))
		c.badInput.Warn(c.log, "mqtt response rejected", "topic", topic, "err", err)
		if r.ID == "" {
			return
		}
	}
	c.pending.Lock()
	w := c.pending.m[r.ID]
	if w != nil && w.twinID == twinID {
		delete(c.pending.m, r.ID)
	} else {
		w = nil
	}
	c.pending.Unlock()
	switch {
	case w != nil:
		w.done <- result{resp: r, err: err} // the only send: the waiter was removed
	case err == nil:
		c.unmatched.Add(1)
		c.badInput.Warn(c.log, "mqtt response matches no pending command", "topic", topic, "id", clip(r.ID, 64))
	}
}

// The statuses of a response.
const (
	statusOK    = "ok"
	statusError = "error"
)

// decodeResponse parses a response: a JSON object (at most 1 MiB) with a
// non-empty string "id", a "status" of "ok" or "error", and an optional
// string "message" (null is none); other fields are ignored. On an error
// the returned response still holds the id when it was readable, so that
// the waiting command learns of the problem.
func decodeResponse(payload []byte) (response, error) {
	root, err := parsePayload(payload)
	if err != nil {
		return response{}, err
	}
	var r response
	id, ok := root["id"].(string)
	if !ok || id == "" {
		return response{}, fmt.Errorf("mqtt: response field \"id\": want a non-empty string, got %s", describe(root, "id"))
	}
	r.ID = id
	switch s, _ := root["status"].(string); s {
	case statusOK, statusError:
		r.Status = s
	default:
		return r, fmt.Errorf("mqtt: response field \"status\": want \"ok\" or \"error\", got %s", describe(root, "status"))
	}
	switch m := root["message"].(type) {
	case nil:
	case string:
		r.Message = m
	default:
		return r, fmt.Errorf("mqtt: response field \"message\": want a string, got %s", kind(m))
	}
	return r, nil
}

// describe names the value of key in obj for a message: missing, its kind,
// or a string's (abbreviated) text.
func describe(obj map[string]any, key string) string {
	v, ok := obj[key]
	switch {
	case !ok:
		return "none"
	case v == "":
		return "an empty string"
	}
	if s, ok := v.(string); ok {
		return abbrev(strconv.Quote(s))
	}
	return kind(v)
}

// commandPayload encodes a command message.
func commandPayload(id, twinID, command string, args []edge.Arg, responseTopic string) ([]byte, error) {
	msg := struct {
		ID            string         `json:"id"`
		Twin          string         `json:"twin"`
		Command       string         `json:"command"`
		Args          map[string]any `json:"args"`
		ResponseTopic string         `json:"response_topic,omitempty"`
	}{ID: id, Twin: twinID, Command: command, Args: make(map[string]any, len(args)), ResponseTopic: responseTopic}
	for _, a := range args {
		if a.Value.IsZero() {
			continue
		}
		v, err := jsonValue(a.Value)
		if err != nil {
			return nil, fmt.Errorf("argument %s: %w", a.Name, err)
		}
		msg.Args[a.Name] = v
	}
	return marshal(msg)
}

// writePayload encodes a write message: v mapped back by t's scale and
// offset at t's path, with "id" and "response_topic" (when not "") unless
// the path takes those keys. withID reports whether "id" is in it.
func writePayload(t writeTarget, v twins.Value, id, responseTopic string) (payload []byte, withID bool, err error) {
	x, err := jsonValue(v)
	if err != nil {
		return nil, false, err
	}
	scale := t.scale
	if scale == 0 { // as in Field: 0 means 1
		scale = 1
	}
	if (scale != 1 || t.offset != 0) && (v.Type() == twins.TypeInt || v.Type() == twins.TypeDouble) {
		y := (v.AsDouble() - t.offset) / scale
		if math.IsNaN(y) || math.IsInf(y, 0) {
			return nil, false, fmt.Errorf("value %v with scale %v and offset %v gives %v", v, t.scale, t.offset, y)
		}
		x = y
	}
	root := map[string]any{}
	obj := root
	for _, seg := range t.path[:len(t.path)-1] {
		next := map[string]any{}
		obj[seg] = next
		obj = next
	}
	obj[t.path[len(t.path)-1]] = x
	if _, taken := root["id"]; !taken {
		root["id"], withID = id, true
	}
	if _, taken := root["response_topic"]; !taken && responseTopic != "" {
		root["response_topic"] = responseTopic
	}
	payload, err = marshal(root)
	return payload, withID, err
}

// jsonValue converts a twin value to its JSON form.
func jsonValue(v twins.Value) (any, error) {
	switch v.Type() {
	case twins.TypeBool:
		return v.AsBool(), nil
	case twins.TypeInt:
		return v.AsInt(), nil
	case twins.TypeDouble:
		f := v.AsDouble()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("the double %v has no JSON form", f)
		}
		return f, nil
	case twins.TypeString, twins.TypeEnum:
		if s := v.AsString(); !utf8.ValidString(s) {
			return nil, fmt.Errorf("the string %s is not valid UTF-8", abbrev(strconv.Quote(s)))
		}
		return v.AsString(), nil
	}
	return nil, fmt.Errorf("no value (type %v)", v.Type())
}

// marshal encodes v as compact JSON without HTML escaping.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// clip shortens s to at most n bytes, on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
