package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/memfit/memfit/internal/arch"
	"github.com/memfit/memfit/internal/gguf"
	"github.com/memfit/memfit/internal/hfconfig"
	"github.com/memfit/memfit/internal/safetensors"
	"github.com/memfit/memfit/internal/weights"
)

func init() { rootCmd.AddCommand(newInspectCmd()) }

// inspectTensor is one row of the tensor table.
type inspectTensor struct {
	Name   string  `json:"name"`
	Type   string  `json:"type"`
	Shape  []int64 `json:"shape"` // ggml order: row length first
	Offset int64   `json:"offset"`
	Bytes  int64   `json:"bytes"`
	File   string  `json:"file,omitempty"`
}

// inspectOutput is what memfit inspect prints.
type inspectOutput struct {
	Path     string          `json:"path"`
	Format   string          `json:"format"`
	Version  uint32          `json:"gguf_version,omitempty"`
	Metadata any             `json:"metadata"`
	Spec     any             `json:"spec,omitempty"`
	SpecErr  string          `json:"spec_error,omitempty"`
	Tensors  []inspectTensor `json:"tensors"`
	Bytes    int64           `json:"tensor_bytes"`
}

func newInspectCmd() *cobra.Command {
	var (
		path string
		full bool
	)
	c := &cobra.Command{
		Use:   "inspect -m MODEL [--full]",
		Short: "Print a model's metadata and tensor table as JSON",
		Long: `Prints a GGUF file's metadata (every key, in file order) or a Hugging Face folder's
config.json and generation_config.json, the architecture memfit reads from it, and
the tensor table (name, type, shape with the row length first, offset, bytes).
Arrays longer than 32 elements are shortened to their first 32 unless --full.`,
		Example: `  memfit inspect -m ../shared/fixtures/models/gocoder/gocoder.bf16.gguf`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if path == "" {
				return usagef("--model (-m) is required")
			}
			format, err := weights.Detect(path)
			if err != nil {
				return err
			}
			out := inspectOutput{Path: path, Format: format.String(), Tensors: []inspectTensor{}}
			var spec *arch.Spec
			var specErr error
			switch format {
			case weights.GGUF:
				f, err := gguf.Open(path)
				if err != nil {
					return err
				}
				defer f.Close()
				out.Version = f.Version
				meta := make([]map[string]any, 0, len(f.KVs))
				for _, kv := range f.KVs {
					meta = append(meta, map[string]any{"key": kv.Key, "type": typeName(kv.Value), "value": shorten(kv.Value.GoValue(), full)})
				}
				out.Metadata = meta
				for _, t := range f.Tensors {
					out.Tensors = append(out.Tensors, inspectTensor{Name: t.Name, Type: t.Type.String(), Shape: t.Shape, Offset: f.TensorOffset(&t), Bytes: t.Size})
					out.Bytes += t.Size
				}
				spec, specErr = arch.FromGGUF(f)
			case weights.HF:
				meta := map[string]any{}
				for _, name := range []string{"config.json", "generation_config.json"} {
					b, err := os.ReadFile(filepath.Join(path, name))
					if err != nil {
						continue
					}
					var v any
					if err := json.Unmarshal(b, &v); err != nil {
						return fmt.Errorf("%s: %w", filepath.Join(path, name), err)
					}
					meta[name] = v
				}
				out.Metadata = meta
				ckpt, err := safetensors.OpenDir(path)
				if err != nil {
					return err
				}
				for _, name := range ckpt.Names() {
					t, _ := ckpt.Tensor(name)
					rel, _ := filepath.Rel(path, t.File)
					out.Tensors = append(out.Tensors, inspectTensor{Name: t.Name, Type: t.Type.String(), Shape: t.Shape, Offset: t.Offset, Bytes: t.Size, File: rel})
					out.Bytes += t.Size
				}
				cfg, err := hfconfig.Load(path)
				if err == nil {
					spec, specErr = arch.FromHF(cfg)
				} else {
					specErr = err
				}
			}
			if specErr != nil {
				out.SpecErr = specErr.Error()
			} else {
				out.Spec = spec
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		},
	}
	c.Flags().StringVarP(&path, "model", "m", "", "model: a GGUF file or a Hugging Face folder (required)")
	c.Flags().BoolVar(&full, "full", false, "print arrays in full")
	return c
}

func typeName(v gguf.Value) string {
	if a, ok := v.Array(); ok {
		return "array[" + a.Elem.String() + "]"
	}
	return v.Type.String()
}

// shorten cuts long arrays (a 262k-token vocabulary) to their head.
func shorten(v any, full bool) any {
	a, ok := v.([]any)
	if !ok || full {
		return v
	}
	if len(a) > 32 {
		return map[string]any{"length": len(a), "head": a[:32]}
	}
	for i := range a {
		a[i] = shorten(a[i], full)
	}
	return a
}
