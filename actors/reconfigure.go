package actors

import (
	"slices"

	"github.com/plantwin/plantwin/twins"
)

// Reconfiguration says what a new configuration changed.
type Reconfiguration struct {
	ModelsAdded, ModelsChanged, ModelsRemoved []string
	TwinsAdded, TwinsChanged, TwinsRemoved    int
}

// Reconfigure replaces the runtime's plant configuration (already
// validated) without stopping it. Twins whose declaration is unchanged
// keep running untouched; active twins whose model, rules, labels or
// parent changed save their state and stop, and the next message
// activates them on the new declaration with their state mapped by name
// (properties, alarms, windows); removed twins stop and are unknown from
// then on. It returns what changed.
func (r *Runtime) Reconfigure(cfg *twins.Config) Reconfiguration {
	old := r.twinsCfg.Swap(cfg)
	var rc Reconfiguration
	for _, m := range cfg.Models {
		om, ok := old.Model(m.Name)
		switch {
		case !ok:
			rc.ModelsAdded = append(rc.ModelsAdded, m.Name)
		case om.Fingerprint != m.Fingerprint:
			rc.ModelsChanged = append(rc.ModelsChanged, m.Name)
		}
	}
	for _, m := range old.Models {
		if _, ok := cfg.Model(m.Name); !ok {
			rc.ModelsRemoved = append(rc.ModelsRemoved, m.Name)
		}
	}
	for _, spec := range cfg.Twins {
		os, ok := old.Twin(spec.ID)
		switch {
		case !ok:
			rc.TwinsAdded++
		case !os.Same(spec):
			rc.TwinsChanged++
		}
	}
	for _, spec := range old.Twins {
		if _, ok := cfg.Twin(spec.ID); !ok {
			rc.TwinsRemoved++
		}
	}
	slices.Sort(rc.ModelsAdded)
	slices.Sort(rc.ModelsChanged)
	slices.Sort(rc.ModelsRemoved)
	if rc.TwinsChanged+rc.TwinsRemoved > 0 {
		msg := &reconfigured{cfg: cfg}
		for _, pid := range r.lookup.LocalPIDs() {
			r.system.Root.Send(pid, msg)
		}
	}
	if err := r.wakes.load(); err != nil {
		r.log.Error("cannot reload the wake schedule", "err", err)
	}
	r.log.Info("configuration replaced", "models_added", rc.ModelsAdded, "models_changed", rc.ModelsChanged,
		"models_removed", rc.ModelsRemoved, "twins_added", rc.TwinsAdded, "twins_changed", rc.TwinsChanged,
		"twins_removed", rc.TwinsRemoved)
	return rc
}
