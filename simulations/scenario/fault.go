package scenario

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/plantwin/plantwin/internal/suggest"
	"github.com/plantwin/plantwin/internal/yamlnode"
)

// FaultKinds are the fault kinds of scenario files.
var FaultKinds = []string{"spike", "drift", "stuck", "dropout", "noise_burst", "endpoint_down", "latency"}

var faultKeys = append([]string{"at", "device", "point"}, FaultKinds...)

// pointRule is whether a fault kind takes a point.
type pointRule uint8

const (
	pointRequired  pointRule = iota // a sensor fault
	pointOptional                   // the point, or the whole device
	pointForbidden                  // the endpoint: the whole device
)

var faultPoint = map[string]pointRule{
	"spike": pointRequired, "drift": pointRequired, "stuck": pointRequired, "noise_burst": pointRequired,
	"dropout": pointOptional, "endpoint_down": pointForbidden, "latency": pointForbidden,
}

// faults parses the timeline.
func (p *parser) faults(sc *Scenario, n *yaml.Node) {
	for i, item := range p.seq(n, "faults") {
		p.fault(sc, item, yamlnode.Index("faults", i))
	}
}

func (p *parser) fault(sc *Scenario, item *yaml.Node, path string) {
	before := len(p.errs)
	fs, ok := p.fields(item, path, faultKeys)
	if !ok {
		return
	}
	misspelt := len(p.errs) > before // an unknown key: maybe the kind
	item = yamlnode.Deref(item)
	f := Fault{Line: item.Line, Per: time.Second}
	var kinds []entry
	for _, k := range FaultKinds {
		if e, ok := fs[k]; ok {
			kinds = append(kinds, e)
		}
	}
	good := true
	switch {
	case len(kinds) == 0:
		if !misspelt {
			p.errorf(item, path, "a fault needs a kind: one of %s", strings.Join(FaultKinds, ", "))
		}
		good = false
	case len(kinds) > 1:
		// Report at the later key.
		a, b := kinds[0], kinds[1]
		if b.key.Line < a.key.Line || (b.key.Line == a.key.Line && b.key.Column < a.key.Column) {
			a, b = b, a
		}
		p.errorf(b.key, path, "a fault has one kind, got both %s and %s", a.key.Value, b.key.Value)
		good = false
	}
	if e, ok := fs["at"]; !ok {
		p.errorf(item, yamlnode.Join(path, "at"), "missing required field \"at\" (when the fault starts, e.g. 2m)")
		good = false
	} else if at, ok := p.duration(e.val, yamlnode.Join(path, "at"), durNonNeg); !ok {
		good = false
	} else if sc.Duration > 0 && at > sc.Duration {
		p.errorf(yamlnode.Deref(e.val), yamlnode.Join(path, "at"), "%s is beyond the scenario's duration %s", fmtDur(at), fmtDur(sc.Duration))
		good = false
	} else {
		f.At = at
	}
	devName, devNode := p.requiredString(fs, item, path, "device")
	var devices []*Device
	if devNode != nil {
		exps := p.expand(devNode, yamlnode.Join(path, "device"), devName, "device", p.lim.devices)
		missing, first := 0, ""
		for _, x := range exps {
			d, ok := sc.Device(x.ID)
			if !ok {
				if p.broken[x.ID] {
					good = false // its entry has errors already
					continue
				}
				if missing == 0 {
					first = x.ID
				}
				missing++
				continue
			}
			devices = append(devices, d)
		}
		if missing > 0 {
			msg := fmt.Sprintf("unknown device %q%s", first, suggest.Closest(first, deviceNames(sc)))
			if missing > 1 {
				msg += fmt.Sprintf(" (and %d more)", missing-1)
			}
			p.errorf(devNode, yamlnode.Join(path, "device"), "%s", msg)
		}
		good = good && missing == 0 && len(exps) > 0
	} else {
		good = false
	}
	if len(kinds) != 1 {
		return
	}
	kind := kinds[0]
	f.Kind = faultKind(kind.key.Value)
	kpath := yamlnode.Join(path, kind.key.Value)
	pe, hasPoint := fs["point"]
	switch rule := faultPoint[kind.key.Value]; {
	case rule == pointRequired && !hasPoint:
		p.errorf(item, yamlnode.Join(path, "point"), "missing required field \"point\" (%s is a fault of one point)", kind.key.Value)
		good = false
	case rule == pointForbidden && hasPoint:
		p.errorf(pe.key, yamlnode.Join(path, "point"), "%s affects the whole device: remove point", kind.key.Value)
		good = false
	case hasPoint:
		ppath := yamlnode.Join(path, "point")
		if s, ok := p.str(pe.val, ppath); !ok {
			good = false
		} else {
			f.Point = s
			for _, d := range devices {
				if _, ok := d.Point(s); !ok {
					p.errorf(yamlnode.Deref(pe.val), ppath, "device %s has no point %q%s", d.Name, s, suggest.Closest(s, pointNamesOf(d)))
					good = false
					break
				}
			}
		}
	}
	forParam := param{name: "for", kind: pDuration, dur: durPositive}
	var specs []param
	switch f.Kind {
	case FaultSpike:
		specs = []param{{name: "value", kind: pNumber, required: true}, forParam}
	case FaultDrift:
		specs = []param{{name: "rate", kind: pNumber, required: true}, {name: "per", kind: pDuration, dur: durPositive}, forParam}
	case FaultNoiseBurst:
		specs = []param{{name: "stddev", kind: pNumber, required: true}, forParam}
	case FaultLatency:
		specs = []param{{name: "add", kind: pDuration, dur: durPositive, required: true}, forParam}
	default:
		specs = []param{forParam}
	}
	v, ok := p.params(kind.val, kpath, specs)
	if !ok {
		return
	}
	f.For = v["for"].d
	f.Value, f.Rate, f.StdDev, f.Add = v["value"].f, v["rate"].f, v["stddev"].f, v["add"].d
	if per, ok := v["per"]; ok {
		f.Per = per.d
	}
	if f.Kind == FaultNoiseBurst && f.StdDev < 0 {
		p.errorf(v["stddev"].node, yamlnode.Join(kpath, "stddev"), "must not be negative, got %g", f.StdDev)
		return
	}
	if !good {
		return
	}
	for _, d := range devices {
		ff := f
		ff.Device = d.Name
		sc.Faults = append(sc.Faults, &ff)
	}
}

func faultKind(s string) FaultKind {
	for k := FaultSpike; int(k) < len(faultNames); k++ {
		if faultNames[k] == s {
			return k
		}
	}
	return 0
}

func deviceNames(sc *Scenario) []string {
	if len(sc.Devices) > 10_000 {
		return nil // too many to suggest from
	}
	names := make([]string, len(sc.Devices))
	for i, d := range sc.Devices {
		names[i] = d.Name
	}
	return names
}

func pointNamesOf(d *Device) []string {
	names := make([]string, len(d.Points))
	for i, pt := range d.Points {
		names[i] = pt.Name
	}
	return names
}
