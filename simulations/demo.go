package simulations

import (
	_ "embed"

	"github.com/plantwin/plantwin/twins"
)

//go:embed demo/demo.yaml
var demoYAML []byte

// DemoConfigName is the file name errors in the bundled demo would name.
const DemoConfigName = "demo/demo.yaml"

// DemoConfig returns the bundled demo plant's configuration.
func DemoConfig() (*twins.Config, error) {
	return twins.ParseConfig(DemoConfigName, demoYAML)
}
