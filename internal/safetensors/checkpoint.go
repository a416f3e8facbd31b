package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// IndexFile is the name of the shard index of a sharded checkpoint.
const IndexFile = "model.safetensors.index.json"

// SingleFile is the name of an unsharded checkpoint.
const SingleFile = "model.safetensors"

// Checkpoint is the tensors of a model folder, from one file or several
// shards.
type Checkpoint struct {
	Dir     string
	Files   []*File
	tensors map[string]*TensorInfo
	names   []string
}

// Tensor returns the named tensor.
func (c *Checkpoint) Tensor(name string) (*TensorInfo, bool) {
	t, ok := c.tensors[name]
	return t, ok
}

// Names returns every tensor name, sorted.
func (c *Checkpoint) Names() []string { return c.names }

// OpenDir opens the checkpoint in dir: model.safetensors.index.json and its
// shards when present, else model.safetensors, else the only *.safetensors
// file in dir.
func OpenDir(dir string) (*Checkpoint, error) {
	idxPath := filepath.Join(dir, IndexFile)
	if _, err := os.Stat(idxPath); err == nil {
		return openIndex(dir, idxPath)
	}
	single := filepath.Join(dir, SingleFile)
	if _, err := os.Stat(single); err != nil {
		matches, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
		if len(matches) != 1 {
			return nil, fmt.Errorf("safetensors: %s: no %s or %s (found %d *.safetensors files)", dir, SingleFile, IndexFile, len(matches))
		}
		single = matches[0]
	}
	f, err := Open(single)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{Dir: dir, Files: []*File{f}, tensors: map[string]*TensorInfo{}}
	for i := range f.Tensors {
		c.add(&f.Tensors[i])
	}
	c.finish()
	return c, nil
}

func (c *Checkpoint) add(t *TensorInfo) { c.tensors[t.Name] = t }

func (c *Checkpoint) finish() {
	c.names = make([]string, 0, len(c.tensors))
	for n := range c.tensors {
		c.names = append(c.names, n)
	}
	sort.Strings(c.names)
}

// indexJSON is model.safetensors.index.json.
type indexJSON struct {
	WeightMap map[string]string `json:"weight_map"`
}

func openIndex(dir, idxPath string) (*Checkpoint, error) {
	b, err := os.ReadFile(idxPath)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	var idx indexJSON
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", idxPath, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("safetensors: %s: weight_map is missing or empty", idxPath)
	}
	shards := map[string]*File{}
	var shardNames []string
	for name, shard := range idx.WeightMap {
		if shard == "" || strings.ContainsAny(shard, `/\`) || shard == "." || shard == ".." {
			return nil, fmt.Errorf("safetensors: %s: weight_map[%q] = %q is not a file name in the folder", idxPath, name, shard)
		}
		if _, ok := shards[shard]; !ok {
			shards[shard] = nil
			shardNames = append(shardNames, shard)
		}
	}
	sort.Strings(shardNames)
	c := &Checkpoint{Dir: dir, tensors: map[string]*TensorInfo{}}
	for _, s := range shardNames {
		f, err := Open(filepath.Join(dir, s))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("safetensors: %s names shard %s, which is missing: %w", idxPath, s, err)
			}
			return nil, err
		}
		shards[s] = f
		c.Files = append(c.Files, f)
		for i := range f.Tensors {
			t := &f.Tensors[i]
			if want, ok := idx.WeightMap[t.Name]; !ok || want != s {
				return nil, fmt.Errorf("safetensors: %s: tensor %s is in shard %s but weight_map says %q", idxPath, t.Name, s, want)
			}
			c.add(t)
		}
	}
	for name, s := range idx.WeightMap {
		if _, ok := c.tensors[name]; !ok {
			return nil, fmt.Errorf("safetensors: %s: tensor %s is mapped to %s but that shard does not hold it", idxPath, name, s)
		}
	}
	c.finish()
	return c, nil
}
