package simrun

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/plantwin/plantwin/simulations"
	"github.com/plantwin/plantwin/simulations/scenario"
	"github.com/plantwin/plantwin/twins"
)

// mqttTimeout bounds a publish to the run's broker.
const mqttTimeout = 10 * time.Second

// startMQTT starts, once per run, the broker the MQTT devices publish to
// (a mosquitto process on loopback) and the devices' client: it
// publishes their telemetry and answers the commands and writes the
// connectors send them.
func (s *served) startMQTT(run *scenario.Run, mu *sync.Mutex) error {
	if s.mq != nil {
		return nil
	}
	dir, err := os.MkdirTemp("", "plantwin-sim-mqtt-")
	if err != nil {
		return err
	}
	s.brokerD = dir
	bo := simulations.MosquittoOptions{}
	if s.brokerPort > 0 {
		bo.Addr = fmt.Sprintf("%s:%d", s.opts.Host, s.brokerPort)
	}
	if s.broker, err = simulations.StartMosquittoWith(dir, bo); err != nil {
		return fmt.Errorf("an mqtt device needs a broker: %w", err)
	}
	opts := paho.NewClientOptions().AddBroker("tcp://" + s.broker.Addr).SetClientID("plantwin-sim-devices").
		SetAutoReconnect(false).SetConnectRetry(true).SetConnectRetryInterval(50 * time.Millisecond).
		SetOrderMatters(false) // a command's answer is published from its handler
	s.mq = paho.NewClient(opts)
	if t := s.mq.Connect(); !t.WaitTimeout(mqttTimeout) || t.Error() != nil {
		return fmt.Errorf("mqtt devices: connect to the broker at %s: %v", s.broker.Addr, t.Error())
	}
	t := s.mq.Subscribe("sim/+/commands", 1, func(_ paho.Client, m paho.Message) { s.mqttCommand(run, mu, m) })
	if !t.WaitTimeout(mqttTimeout) || t.Error() != nil {
		return fmt.Errorf("mqtt devices: subscribe: %v", t.Error())
	}
	return nil
}

// publish sends each MQTT device's messages of the tick, in time order,
// and waits until the broker has them.
func (s *served) publish(msgs map[*servedDevice]map[time.Duration]map[string]any) error {
	var tokens []paho.Token
	for _, sd := range s.devs {
		byAt := msgs[sd]
		ats := make([]time.Duration, 0, len(byAt))
		for at := range byAt {
			ats = append(ats, at)
		}
		sort.Slice(ats, func(i, j int) bool { return ats[i] < ats[j] })
		for _, at := range ats {
			data, err := json.Marshal(byAt[at])
			if err != nil {
				return fmt.Errorf("device %s: %w", sd.dev.Name, err)
			}
			tokens = append(tokens, s.mq.Publish("sim/"+sd.dev.Twin+"/telemetry", 1, false, data))
		}
	}
	for _, t := range tokens {
		if !t.WaitTimeout(mqttTimeout) || t.Error() != nil {
			return fmt.Errorf("mqtt devices: publish: %v", t.Error())
		}
	}
	return nil
}

// setPath puts v at the dot path of msg ("a.b" → {"a": {"b": v}}).
func setPath(msg map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := msg[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			msg[p] = next
		}
		msg = next
	}
	msg[parts[len(parts)-1]] = v
}

// mqttCommand carries out a command or write a connector sent to an MQTT
// device (edge/mqtt's command messages) and answers it on its response
// topic once the device's reaction has run.
func (s *served) mqttCommand(run *scenario.Run, mu *sync.Mutex, m paho.Message) {
	twin := strings.TrimSuffix(strings.TrimPrefix(m.Topic(), "sim/"), "/commands")
	sd := s.byTwin[twin]
	var msg struct {
		ID            string                     `json:"id"`
		Command       string                     `json:"command"`
		Args          map[string]json.RawMessage `json:"args"`
		ResponseTopic string                     `json:"response_topic"`
		Set           map[string]json.RawMessage `json:"set"`
	}
	err := json.Unmarshal(m.Payload(), &msg)
	switch {
	case sd == nil:
		err = fmt.Errorf("no simulated device feeds twin %s", twin)
	case run == nil:
		// A replay's devices take what they are sent and change nothing.
	case err != nil:
		err = fmt.Errorf("device %s: undecodable command: %w", twin, err)
	case msg.Command != "":
		args := map[string]twins.Value{}
		for k, raw := range msg.Args {
			if v, ok := jsonValue(raw); ok {
				args[k] = v
			}
		}
		mu.Lock()
		err = run.Apply(sd.dev.Name, msg.Command, args)
		mu.Unlock()
	default:
		for field, raw := range msg.Set {
			point, ok := sd.fields[field]
			v, okv := jsonValue(raw)
			if !ok || !okv {
				err = fmt.Errorf("device %s: a write of %s = %s it cannot take", sd.dev.Name, field, raw)
				break
			}
			mu.Lock()
			err = run.Write(sd.dev.Name, point, v)
			mu.Unlock()
			if err != nil {
				break
			}
		}
	}
	if err != nil {
		s.wmu.Lock()
		s.werrs = append(s.werrs, err.Error())
		s.wmu.Unlock()
	}
	if msg.ID == "" {
		return
	}
	topic := msg.ResponseTopic
	if topic == "" {
		topic = "sim/" + twin + "/responses"
	}
	resp := map[string]string{"id": msg.ID, "status": "ok"}
	if err != nil {
		resp["status"], resp["message"] = "error", err.Error()
	}
	data, _ := json.Marshal(resp)
	s.mq.Publish(topic, 1, false, data) // the connector waits for it
}

// jsonValue converts a JSON scalar to a twin value.
func jsonValue(raw json.RawMessage) (twins.Value, bool) {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return twins.Value{}, false
	}
	switch x := v.(type) {
	case bool:
		return twins.Bool(x), true
	case float64:
		return twins.Double(x), true
	case string:
		return twins.String(x), true
	}
	return twins.Value{}, false
}
