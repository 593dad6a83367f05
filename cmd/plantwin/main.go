// Command plantwin is the one binary of plantwin: `serve` runs a node,
// `twins` reads twins from a node, `backup` and `restore` copy a node's
// store. Run `plantwin help` for the list.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
