package sample

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestGreedy(t *testing.T) {
	tests := []struct {
		logits []float32
		want   int32
	}{
		{[]float32{1, 3, 2}, 1},
		{[]float32{5, 5, 1}, 0},
		{[]float32{-1, -0.5, -0.5}, 1},
		{[]float32{float32(math.Inf(-1)), 0}, 1},
	}
	for _, tt := range tests {
		if got := Greedy(tt.logits); got != tt.want {
			t.Errorf("Greedy(%v) = %d, want %d", tt.logits, got, tt.want)
		}
		if got := New(Params{}, len(tt.logits)).Sample(tt.logits, nil); got != tt.want {
			t.Errorf("Sample greedy(%v) = %d, want %d", tt.logits, got, tt.want)
		}
	}
}

func softmax(l []float32, temp float64) []float64 {
	m := math.Inf(-1)
	for _, x := range l {
		m = math.Max(m, float64(x))
	}
	p := make([]float64, len(l))
	var s float64
	for i, x := range l {
		p[i] = math.Exp((float64(x) - m) / temp)
		s += p[i]
	}
	for i := range p {
		p[i] /= s
	}
	return p
}

// frequencies draws n tokens and returns their empirical distribution.
func frequencies(p Params, logits []float32, n int) []float64 {
	s := New(p, len(logits))
	f := make([]float64, len(logits))
	for range n {
		f[s.Sample(logits, nil)]++
	}
	for i := range f {
		f[i] /= float64(n)
	}
	return f
}

func TestDistribution(t *testing.T) {
	logits := []float32{2, 1, 0.5, 0, -1, -3}
	const n = 40000
	tests := []struct {
		name string
		p    Params
		want []float64
	}{
		{"temp1", Params{Temperature: 1, Seed: 1}, softmax(logits, 1)},
		{"temp0.5", Params{Temperature: 0.5, Seed: 2}, softmax(logits, 0.5)},
		{"temp2", Params{Temperature: 2, Seed: 3}, softmax(logits, 2)},
		// top-k 2: renormalised over the two best.
		{"topk2", Params{Temperature: 1, TopK: 2, Seed: 4}, append(softmax(logits[:2], 1), 0, 0, 0, 0)},
		// top-p 0.8: softmax(logits) = .53 .20 .12 .07 .03 .003 → first three (cum .85).
		{"topp0.8", Params{Temperature: 1, TopP: 0.8, Seed: 5}, append(softmax(logits[:3], 1), 0, 0, 0)},
		// min-p 0.1: keeps p ≥ 0.053: ids 0..3.
		{"minp0.1", Params{Temperature: 1, MinP: 0.1, Seed: 6}, append(softmax(logits[:4], 1), 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := frequencies(tt.p, logits, n)
			for i := range got {
				// 5 standard deviations of a binomial proportion.
				sd := math.Sqrt(tt.want[i]*(1-tt.want[i])/n) + 1e-9
				if math.Abs(got[i]-tt.want[i]) > 5*sd {
					t.Errorf("token %d: frequency %.4f, want %.4f", i, got[i], tt.want[i])
				}
				if tt.want[i] == 0 && got[i] != 0 {
					t.Errorf("token %d drawn (frequency %.4f) but truncated away", i, got[i])
				}
			}
		})
	}
}

func TestSeedDeterminism(t *testing.T) {
	logits := make([]float32, 1000)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range logits {
		logits[i] = float32(r.NormFloat64() * 3)
	}
	run := func(seed uint64) []int32 {
		s := New(Params{Temperature: 0.9, TopK: 50, TopP: 0.95, MinP: 0.02, RepeatPenalty: 1.1, Seed: seed}, len(logits))
		var out []int32
		for range 200 {
			out = append(out, s.Sample(logits, out))
		}
		return out
	}
	a, b, c := run(7), run(7), run(8)
	if !slices.Equal(a, b) {
		t.Error("same seed gave different tokens")
	}
	if slices.Equal(a, c) {
		t.Error("seeds 7 and 8 gave the same 200 tokens")
	}
}

// referencePenalties is the plain definition of llama.cpp's penalties.
func referencePenalties(logits []float32, window []int32, rp, pres, freq float32) []float32 {
	out := slices.Clone(logits)
	count := map[int32]int{}
	for _, id := range window {
		count[id]++
	}
	for id, n := range count {
		l := out[id]
		if rp != 1 && rp != 0 {
			if l <= 0 {
				l *= rp
			} else {
				l /= rp
			}
		}
		out[id] = l - (float32(n)*freq + pres) // llama.cpp: logit -= count*freq + (count > 0)*present
	}
	return out
}

func TestPenalties(t *testing.T) {
	logits := []float32{3, -2, 1, 0.5, 2.9, -1}
	history := []int32{0, 1, 0, 4, 2, 2, 2}
	tests := []struct {
		name string
		p    Params
	}{
		{"repeat", Params{RepeatPenalty: 1.5}},
		{"presence", Params{PresencePenalty: 0.5}},
		{"frequency", Params{FrequencyPenalty: 0.3}},
		{"all", Params{RepeatPenalty: 1.2, PresencePenalty: 0.2, FrequencyPenalty: 0.4}},
		{"window3", Params{RepeatPenalty: 3, RepeatLastN: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.p.RepeatLastN
			if n == 0 || n > len(history) {
				n = len(history)
			}
			want := referencePenalties(logits, history[len(history)-n:], tt.p.RepeatPenalty, tt.p.PresencePenalty, tt.p.FrequencyPenalty)
			s := New(tt.p, len(logits))
			got := s.Sample(logits, history)
			if w := Greedy(want); got != w {
				t.Errorf("greedy with penalties = %d, want %d (penalised logits %v)", got, w, want)
			}
			// The sampler's penalised logits, read back.
			c := s.cand[:len(logits)]
			for i := range c {
				c[i] = candidate{id: int32(i), logit: logits[i]}
			}
			s.penalize(c, history)
			for i := range c {
				if c[i].logit != want[i] {
					t.Errorf("logit %d = %v, want %v", i, c[i].logit, want[i])
				}
			}
			if got := s.Sample(logits, history); got != Greedy(want) {
				t.Error("second call differs: counts not reset")
			}
		})
	}
}

func TestCheck(t *testing.T) {
	bad := []Params{
		{Temperature: -1}, {Temperature: float32(math.NaN())}, {TopK: -1}, {TopP: 1.5},
		{MinP: -0.1}, {RepeatPenalty: -1}, {PresencePenalty: 200}, {FrequencyPenalty: float32(math.NaN())},
	}
	for _, p := range bad {
		if p.Check() == nil {
			t.Errorf("Check(%+v) = nil, want an error", p)
		}
	}
	if err := (Params{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1}).Check(); err != nil {
		t.Errorf("valid params: %v", err)
	}
}

func TestSampleAllocatesNothing(t *testing.T) {
	logits := make([]float32, 32000)
	for i := range logits {
		logits[i] = float32(i%97) / 10
	}
	hist := []int32{1, 2, 3, 4}
	s := New(Params{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1, Seed: 1}, len(logits))
	s.Sample(logits, hist)
	if a := testing.AllocsPerRun(20, func() { s.Sample(logits, hist) }); a != 0 {
		t.Errorf("Sample allocates %v times per token, want 0", a)
	}
}

// FuzzTopK checks the heap selection against a full sort.
func FuzzTopK(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 3, 3, 3}, uint8(2))
	f.Add([]byte{9, 9, 9, 9, 9, 9, 9, 9, 9, 9}, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, k8 uint8) {
		if len(data) == 0 {
			return
		}
		c := make([]candidate, len(data))
		for i, b := range data {
			c[i] = candidate{id: int32(i), logit: float32(b%16) - 8}
		}
		k := int(k8)%len(data) + 1
		want := slices.Clone(c)
		slices.SortStableFunc(want, func(a, b candidate) int {
			if a.logit != b.logit {
				if a.logit > b.logit {
					return -1
				}
				return 1
			}
			return int(a.id - b.id)
		})
		got := topK(slices.Clone(c), k)
		if !slices.Equal(got, want[:k]) {
			t.Fatalf("topK(%d) = %v, want %v", k, got, want[:k])
		}
	})
}
