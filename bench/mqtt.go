package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/plantwin/plantwin/actors"
	"github.com/plantwin/plantwin/edge"
	edgemqtt "github.com/plantwin/plantwin/edge/mqtt"
	"github.com/plantwin/plantwin/persistence"
	"github.com/plantwin/plantwin/simulations"
	"github.com/plantwin/plantwin/twins"
)

// MQTTOptions configures the MQTT benchmark.
type MQTTOptions struct {
	// Twins the generator publishes for, round robin.
	Twins int
	// Rate is the generator's paced rate in messages per second.
	Rate int
	// Duration of each measurement.
	Duration time.Duration
	// Dir holds the broker's files and the store (default: temporary).
	Dir string
}

// DefaultMQTTOptions are the figures docs/BENCHMARKS.md records.
func DefaultMQTTOptions() MQTTOptions {
	return MQTTOptions{Twins: 1000, Rate: 50000, Duration: 15 * time.Second}
}

// MQTTResult holds the MQTT benchmark's figures.
type MQTTResult struct {
	Sent float64 // messages/s the generator published
	// BrokerOnly: messages/s a bare paho subscriber received from the
	// same generator through the same broker.
	BrokerOnly float64
	// Twins: values/s the connector durably applied to twins.
	Twins float64
}

func mqttBenchYAML(n int, addr string) string {
	width := len(strconv.Itoa(n))
	return fmt.Sprintf(`models:
  - name: meter
    properties:
      - {name: flow, type: double}
twins:
  - id: m-{%0*d..%d}
    model: meter
connectors:
  - name: broker
    protocol: mqtt
    endpoint: tcp://%s
    mqtt: {topic: "bench/{twin}/data", qos: 0, clean_session: true}
bindings:
  - connector: broker
    twin: m-{%0*d..%d}
    properties:
      flow: {field: flow}
`, width, 1, n, addr, width, 1, n)
}

// generate publishes QoS 0 messages at rate for d, round robin over ids,
// and returns the rate achieved.
func generate(ctx context.Context, addr string, ids []string, rate int, d time.Duration) (float64, error) {
	pub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("bench-generator"))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return 0, fmt.Errorf("bench: mqtt generator connect: %v", tok.Error())
	}
	defer pub.Disconnect(250)
	topics := make([]string, len(ids))
	for i, id := range ids {
		topics[i] = "bench/" + id + "/data"
	}
	perTick := max(rate/100, 1)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	sent, i := 0, 0
	for now := range tick.C {
		if now.Sub(start) >= d || ctx.Err() != nil {
			break
		}
		for k := 0; k < perTick; k++ {
			pub.Publish(topics[i], 0, false, `{"flow": `+strconv.Itoa(sent%1000)+`.5}`)
			i = (i + 1) % len(topics)
			sent++
		}
	}
	return float64(sent) / time.Since(start).Seconds(), nil
}

// RunMQTT measures MQTT messages into twins beside the broker-only rate of
// the same generator.
func RunMQTT(ctx context.Context, o MQTTOptions, w io.Writer) (*MQTTResult, error) {
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "plantwin-mqttbench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		o.Dir = d
	}
	broker, err := simulations.StartMosquitto(o.Dir)
	if err != nil {
		return nil, err
	}
	defer broker.Stop()
	text := mqttBenchYAML(o.Twins, broker.Addr)
	plant, err := twins.ParseConfig("mqtt-bench.yaml", []byte(text))
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(plant.Twins))
	for i, t := range plant.Twins {
		ids[i] = t.ID
	}
	res := &MQTTResult{}

	// Broker only: a bare subscriber counts what arrives.
	var got atomic.Int64
	sub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + broker.Addr).SetClientID("bench-subscriber").SetOrderMatters(false))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("bench: mqtt subscriber connect: %v", tok.Error())
	}
	if tok := sub.Subscribe("bench/+/data", 0, func(paho.Client, paho.Message) { got.Add(1) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("bench: mqtt subscribe: %v", tok.Error())
	}
	logf(w, "mqtt: broker only: generator at %d msgs/s over %d topics for %v, bare subscriber", o.Rate, len(ids), o.Duration)
	start := time.Now()
	if res.Sent, err = generate(ctx, broker.Addr, ids, o.Rate, o.Duration); err != nil {
		return nil, err
	}
	time.Sleep(500 * time.Millisecond) // in flight
	res.BrokerOnly = float64(got.Load()) / time.Since(start).Seconds()
	sub.Disconnect(250)

	// Through the connector into durable twins.
	ecfg, err := edge.ParseConfig("mqtt-bench.yaml", []byte(text), plant)
	if err != nil {
		return nil, err
	}
	store, err := persistence.Open(persistence.DefaultConfig(o.Dir + "/store"))
	if err != nil {
		return nil, err
	}
	defer store.Close()
	rt, err := actors.Start(actors.Config{Twins: plant, Store: store, PassivateAfter: -1,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	sink := edge.NewSink(rt)
	cc, _ := ecfg.Connector("broker")
	conn, err := edgemqtt.New(cc, ecfg.BindingsOf("broker"), sink, nil, nil)
	if err != nil {
		return nil, err
	}
	if err := conn.Start(); err != nil {
		return nil, err
	}
	defer conn.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for conn.Status().State != edge.StateConnected {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("bench: mqtt connector did not subscribe: %+v", conn.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	logf(w, "mqtt: connector: the same generator into %d durable twins for %v", len(ids), o.Duration)
	acc0 := sink.Stats().Accepted
	start = time.Now()
	if _, err = generate(ctx, broker.Addr, ids, o.Rate, o.Duration); err != nil {
		return nil, err
	}
	// Count what is applied until the queue drains (at most 10 s more).
	last, lastAt := sink.Stats().Accepted, time.Now()
	for time.Since(lastAt) < time.Second && time.Since(start) < o.Duration+10*time.Second {
		time.Sleep(200 * time.Millisecond)
		if a := sink.Stats().Accepted; a != last {
			last, lastAt = a, time.Now()
		}
	}
	res.Twins = float64(last-acc0) / lastAt.Sub(start).Seconds()
	fmt.Fprintf(w, "\n== MQTT benchmark: %d twins, QoS 0, loopback Mosquitto ==\n", len(ids))
	fmt.Fprintf(w, "generator:    %8.0f msgs/s\nbroker only:  %8.0f msgs/s received by a bare subscriber\nconnector:    %8.0f values/s durably applied to twins = %.0f%% of broker only (%d dropped in the connector queue)\n",
		res.Sent, res.BrokerOnly, res.Twins, 100*res.Twins/res.BrokerOnly, conn.Dropped())
	return res, nil
}
