package plan

import (
	"math"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/tensor"
)

// TestPlanExperts plans (enlarged) MoE fixtures under budgets from the minimum to
// everything and checks the expert cache's layout: inside the budget, one
// token's experts per layer at least, slots spread evenly, and a hit rate
// and read volume that improve with the budget.
func TestPlanExperts(t *testing.T) {
	for _, c := range []string{"qwen3_moe", "olmoe", "qwen2_moe"} {
		ix, err := Open(fixtures.Path(t, "archs", c, "hf"))
		if err != nil {
			t.Fatal(err)
		}
		// The fixtures are tiny next to the runtime's overhead: plan
		// them as if every tensor were 4096 times larger.
		for i := range ix.Tensors {
			ix.Tensors[i].Bytes *= 4096
			ix.Tensors[i].Elems *= 4096
		}
		s := ix.Spec
		base := Options{Ctx: 64, Parallel: 1, Batch: 8, KVType: tensor.F32, Threads: 2}
		o := base
		o.Budget = 1 << 40
		full, err := Make(ix, o)
		if err != nil {
			t.Fatal(err)
		}
		if full.CachesExperts() {
			t.Fatalf("%s: an unlimited budget caches experts", c)
		}
		lay := expertLayers(ix)
		prevHit, prevRead := -1.0, int64(math.MaxInt64)
		seen := 0
		for b := full.MinimumBytes; b < full.TotalBytes; b += (full.TotalBytes-full.MinimumBytes)/23 + 1 {
			o.Budget = b
			p, err := Make(ix, o)
			if err != nil {
				t.Fatal(err)
			}
			if !p.Fits {
				t.Fatalf("%s, budget %d (minimum %d): does not fit", c, b, p.MinimumBytes)
			}
			if p.TotalBytes > b {
				t.Errorf("%s, budget %d: plan total %d", c, b, p.TotalBytes)
			}
			if !p.CachesExperts() {
				continue
			}
			seen++
			var sum int
			var bytes int64
			lo, hi := math.MaxInt, 0
			for l, n := range p.ExpertLayerSlots {
				if n < s.ExpertsUsed || n > s.Experts {
					t.Errorf("%s, budget %d: layer %d has %d slots (a token uses %d of %d)", c, b, l, n, s.ExpertsUsed, s.Experts)
				}
				sum += n
				bytes += int64(n) * lay.slot[l]
				lo, hi = min(lo, n), max(hi, n)
			}
			if sum != p.ExpertSlots || bytes != p.ExpertCacheBytes || hi-lo > 1 {
				t.Errorf("%s, budget %d: slots %v (sum %d, plan %d), %d bytes (plan %d)", c, b, p.ExpertLayerSlots, sum, p.ExpertSlots, bytes, p.ExpertCacheBytes)
			}
			// No locality: each layer's hit rate is its share of experts.
			if want := float64(sum) / float64(s.Experts*len(s.Layers)); math.Abs(p.ExpectedHitRate-want) > 1e-9 {
				t.Errorf("%s, budget %d: expected hit rate %v, want %v", c, b, p.ExpectedHitRate, want)
			}
			if p.ExpectedHitRate < prevHit || p.ExpectedExpertReadBytes > prevRead {
				t.Errorf("%s, budget %d: hit rate %v read %d after %v %d with less", c, b, p.ExpectedHitRate, p.ExpectedExpertReadBytes, prevHit, prevRead)
			}
			prevHit, prevRead = p.ExpectedHitRate, p.ExpectedExpertReadBytes
			// Locality raises the hit rate.
			ol := o
			ol.ExpertReuse = 0.8
			pl, _ := Make(ix, ol)
			if pl.ExpectedHitRate < p.ExpectedHitRate || pl.ExpectedHitRate < 0.8 {
				t.Errorf("%s, budget %d: with reuse 0.8 the hit rate is %v (none: %v)", c, b, pl.ExpectedHitRate, p.ExpectedHitRate)
			}
			// A run's reads imply the reuse that predicts them; reads
			// beyond no locality imply none, no reads a reuse of 1.
			noLocality := float64(s.ExpertsUsed) / float64(s.Experts)
			for _, tc := range []struct {
				read, want, tol float64
			}{
				{float64(pl.ExpectedExpertReadBytes), 0.8, 1e-3},
				{float64(p.ExpectedExpertReadBytes), noLocality, 1e-6},
				{2 * float64(p.ExpectedExpertReadBytes), noLocality, 0},
				{0, 1, 1e-9},
			} {
				if got := ImpliedReuse(ix, p, tc.read); math.Abs(got-tc.want) > tc.tol {
					t.Errorf("%s, budget %d: %v bytes read per token imply reuse %v, want %v", c, b, tc.read, got, tc.want)
				}
			}
			// The device's reuse from earlier runs is used unless one is
			// given.
			od := o
			od.Device = &Device{Cores: 2, MemBandwidth: 20e9, DiskBandwidth: 1e9, FLOPS: 24e9, ExpertReuse: 0.8}
			pd, _ := Make(ix, od)
			if pd.ExpertReuse != 0.8 || pd.ExpertReuseFrom != "runs" || pd.ExpectedHitRate != pl.ExpectedHitRate {
				t.Errorf("%s, budget %d: device reuse 0.8 gave reuse %v from %q, hit rate %v (want %v)", c, b, pd.ExpertReuse, pd.ExpertReuseFrom, pd.ExpectedHitRate, pl.ExpectedHitRate)
			}
			od.ExpertReuse = 0.5
			if pd, _ = Make(ix, od); pd.ExpertReuse != 0.5 || pd.ExpertReuseFrom != "" {
				t.Errorf("%s, budget %d: reuse 0.5 given, device 0.8: reuse %v from %q", c, b, pd.ExpertReuse, pd.ExpertReuseFrom)
			}
		}
		if r := ImpliedReuse(ix, full, 1e6); r != 0 {
			t.Errorf("%s: a plan without an expert cache implies reuse %v", c, r)
		}
		if seen == 0 {
			t.Errorf("%s: no budget between the minimum and everything cached experts", c)
		}
		o.Budget = full.MinimumBytes - 1
		if p, _ := Make(ix, o); p.Fits {
			t.Errorf("%s: a byte under the minimum fits", c)
		}
	}
}

// TestExpertExpect checks the hit-rate model on hand-worked cases.
func TestExpertExpect(t *testing.T) {
	lay := &expertShape{experts: []int{8, 8}, bytes: []int64{1000, 1000}, slot: []int64{2000, 2000}}
	for _, tt := range []struct {
		slots []int
		reuse float64
		hit   float64
	}{
		{[]int{2, 2}, 0, 0.25},     // no locality: 2 of 8
		{[]int{8, 8}, 0.5, 1},      // everything cached
		{[]int{2, 2}, 1, 1},        // the same experts every token
		{[]int{5, 5}, 0.5, 0.75},   // 0.5 + 0.5·(5-2)/(8-2)
		{[]int{1, 8}, 0, 0.5625},   // (1/8 + 1)/2: one slot cannot keep a token's experts
		{[]int{4, 6}, 0.25, 0.625}, // (0.25+0.75·2/6 + 0.25+0.75·4/6)/2
	} {
		hit, read := lay.expect(tt.slots, 2, tt.reuse)
		if math.Abs(hit-tt.hit) > 1e-12 {
			t.Errorf("slots %v reuse %v: hit rate %v, want %v", tt.slots, tt.reuse, hit, tt.hit)
		}
		var want float64
		for l, n := range tt.slots {
			h := 1.0
			if n < 8 {
				if n < 2 {
					h = float64(n) / 8
				} else {
					r := tt.reuse
					if r == 0 {
						r = 0.25
					}
					h = r + (1-r)*float64(n-2)/6
				}
			}
			want += 2 * (1 - h) * float64(lay.bytes[l]+3*StreamAlign)
		}
		if read != int64(want) {
			t.Errorf("slots %v reuse %v: %d bytes read per token, want %d", tt.slots, tt.reuse, read, int64(want))
		}
	}
}
