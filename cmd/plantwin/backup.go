package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/persistence"
)

func newBackupCmd() *cobra.Command {
	var to string
	o := clientOptions{}
	cmd := &cobra.Command{
		Use:   "backup --server ADDR --to DIR",
		Short: "Take an online backup of a running node's store into DIR",
		Long: `Ask a running node for a consistent checkpoint of its store and copy it
into DIR (which must not exist or be empty). The node keeps serving. Bring a
backup back with 'plantwin restore'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return usage(errors.New("--to DIR is required"))
			}
			return backup(cmd.Context(), &o, to, cmd.OutOrStdout())
		},
	}
	o.register(cmd, false)
	_ = cmd.Flags().Set("timeout", "30m")
	cmd.Flags().Lookup("timeout").DefValue = "30m0s"
	cmd.Flags().StringVar(&to, "to", "", "directory to write the backup into")
	return cmd
}

func emptyOrMissing(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return fmt.Errorf("%s is not empty", dir)
	}
	return nil
}

func backup(ctx context.Context, o *clientOptions, to string, out io.Writer) error {
	if err := emptyOrMissing(to); err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	server := o.server
	conn, ctx, done, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer done()
	stream, err := pb.NewAdminServiceClient(conn).Backup(ctx, &pb.BackupRequest{})
	if err != nil {
		return fmt.Errorf("backup from %s: %w", server, err)
	}
	// Write into a sibling temporary directory, rename when complete.
	parent := filepath.Dir(filepath.Clean(to))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, ".plantwin-backup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var f *os.File
	var cur string
	var total int64
	files := 0
	closeCur := func() error {
		if f == nil {
			return nil
		}
		err := f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		f = nil
		return err
	}
	defer closeCur()
	for {
		chunk, err := stream.Recv()
		if err == io.EOF {
			return fmt.Errorf("backup from %s: stream ended before the backup was complete", server)
		}
		if err != nil {
			return fmt.Errorf("backup from %s: %w", server, err)
		}
		if chunk.Done {
			if err := closeCur(); err != nil {
				return err
			}
			if chunk.TotalBytes != total {
				return fmt.Errorf("backup from %s: received %d bytes, server sent %d", server, total, chunk.TotalBytes)
			}
			break
		}
		rel := filepath.FromSlash(chunk.Path)
		if rel == "" || filepath.IsAbs(rel) || strings.HasPrefix(filepath.Clean(rel), "..") {
			return fmt.Errorf("backup from %s: refusing file path %q", server, chunk.Path)
		}
		if chunk.Path != cur {
			if err := closeCur(); err != nil {
				return err
			}
			p := filepath.Join(tmp, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if f, err = os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); err != nil {
				return err
			}
			cur = chunk.Path
			files++
		}
		if _, err := f.WriteAt(chunk.Data, chunk.Offset); err != nil {
			return err
		}
		total += int64(len(chunk.Data))
	}
	_ = os.Remove(to) // empty or missing, checked above
	if err := os.Rename(tmp, to); err != nil {
		return fmt.Errorf("move backup into %s: %w", to, err)
	}
	fmt.Fprintf(out, "backup of %s written to %s: %d files, %d bytes\n", server, to, files, total)
	return nil
}

func newRestoreCmd() *cobra.Command {
	var from, data string
	cmd := &cobra.Command{
		Use:   "restore --from DIR --data DIR",
		Short: "Restore a backup into a stopped node's data directory",
		Long: `Copy a backup taken with 'plantwin backup' into the data directory of a
node that is not running. The data directory must be empty or missing; the
backup is verified before and after the copy.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || data == "" {
				return errors.New("--from DIR and --data DIR are required")
			}
			if err := persistence.Restore(from, data); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %s into %s\n", from, data)
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "backup directory")
	cmd.Flags().StringVar(&data, "data", "", "data directory of the stopped node")
	return cmd
}
