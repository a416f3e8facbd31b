package main

import (
	"fmt"

	"github.com/mmcloughlin/avo/attr"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The quantized kernels. Every one computes exactly what internal/quant's
// reference dot product (ggml's generic vec_dot) computes: the integer part
// of a block's dot product is exact in any order, so it is summed in SIMD
// lanes and reduced per block; the float part (block scales times the
// integer sum, accumulated over blocks) follows the reference's operations
// in the reference's order, vectorised across rows: each lane of a float
// vector holds one weight row. A (row, token) result is therefore bit for
// bit the reference's, whatever tile or batch it is computed in.

// Constants, defined by quantConsts.
var (
	cNib     Mem // 32 × 0x0f
	cOnes8   Mem // 32 × 0x01
	cOnes16  Mem // 16 × int16 1
	cShift04 Mem // qword shift counts {0, 0, 4, 4}: low nibbles in the low lane, high in the high lane
	cAbs     Mem // float32 sign-clearing mask
	cF127    Mem // float32 127
	cPerm    Mem // dword permutation {0, 4, 1, 5, 2, 6, 3, 7} undoing the packs' lane split
	cQhShuf  Mem // bytes {0×8, 1×8, 2×8, 3×8}: spread a uint32's bytes over 8-byte groups
	cBitMask Mem // 0x7fbfdfeff7fbfdfe ×4: every bit but bit k%8 in byte k
	cAllFF   Mem // 32 × 0xff
	cH10     Mem // 32 × 0x10
	cIQ4NL   Mem // kvalues_iq4nl in both lanes
)

func bytesConst(name string, b []byte) Mem {
	m := GLOBL(name, RODATA|NOPTR)
	for i, v := range b {
		DATA(i, U8(v))
	}
	return m
}

func repeat(v byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = v
	}
	return b
}

func u32s(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
	}
	return b
}

func u64s(vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = append(b, u32s(uint32(v), uint32(v>>32))...)
	}
	return b
}

func quantConsts() {
	cNib = bytesConst("q_nib", repeat(0x0f, 32))
	cOnes8 = bytesConst("q_ones8", repeat(0x01, 32))
	ones16 := make([]byte, 32)
	for i := 0; i < 32; i += 2 {
		ones16[i] = 1
	}
	cOnes16 = bytesConst("q_ones16", ones16)
	cShift04 = bytesConst("q_shift04", u64s(0, 0, 4, 4))
	cAbs = bytesConst("q_abs", u32s(0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff))
	cF127 = bytesConst("q_f127", u32s(0x42fe0000))
	cPerm = bytesConst("q_perm", u32s(0, 4, 1, 5, 2, 6, 3, 7))
	var shuf []byte
	for k := 0; k < 4; k++ {
		shuf = append(shuf, repeat(byte(k), 8)...)
	}
	cQhShuf = bytesConst("q_qhshuf", shuf)
	cBitMask = bytesConst("q_bitmask", u64s(0x7fbfdfeff7fbfdfe, 0x7fbfdfeff7fbfdfe, 0x7fbfdfeff7fbfdfe, 0x7fbfdfeff7fbfdfe))
	cAllFF = bytesConst("q_allff", repeat(0xff, 32))
	cH10 = bytesConst("q_h10", repeat(0x10, 32))
	kv := []int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}
	var tbl []byte
	for l := 0; l < 2; l++ {
		for _, v := range kv {
			tbl = append(tbl, byte(v))
		}
	}
	cIQ4NL = bytesConst("q_iq4nl", tbl)
}

// strided addresses n items (weight rows, activation rows) stride bytes
// apart from one base pointer with at most four registers: p, s, 3s and
// q = p + 5s.
type strided struct {
	n           int
	p, s, s3, q Register
}

func loadStrided(n int, base, stride string) strided {
	a := strided{n: n}
	a.p = Load(Param(base), GP64())
	if n > 1 {
		a.s = Load(Param(stride), GP64())
	}
	if n > 3 {
		a.s3 = GP64()
		LEAQ(Mem{Base: a.s, Index: a.s, Scale: 2}, a.s3)
	}
	if n > 5 {
		a.q = GP64()
		LEAQ(Mem{Base: a.p, Index: a.s, Scale: 4}, a.q)
		ADDQ(a.s, a.q)
	}
	return a
}

// at addresses byte disp of item i.
func (a strided) at(i, disp int) Mem {
	switch i {
	case 0:
		return Mem{Base: a.p, Disp: disp}
	case 1:
		return Mem{Base: a.p, Index: a.s, Scale: 1, Disp: disp}
	case 2:
		return Mem{Base: a.p, Index: a.s, Scale: 2, Disp: disp}
	case 3:
		return Mem{Base: a.p, Index: a.s3, Scale: 1, Disp: disp}
	case 4:
		return Mem{Base: a.p, Index: a.s, Scale: 4, Disp: disp}
	case 5:
		return Mem{Base: a.q, Disp: disp}
	case 6:
		return Mem{Base: a.p, Index: a.s3, Scale: 2, Disp: disp}
	case 7:
		return Mem{Base: a.q, Index: a.s, Scale: 2, Disp: disp}
	}
	panic("strided: item out of range")
}

func (a strided) advance(n int) {
	ADDQ(U32(n), a.p)
	if a.q != nil {
		ADDQ(U32(n), a.q)
	}
}

// prefetcher streams the next tile (the R rows after the current ones,
// which follow them in memory) into the cache in step with the loop: per
// iteration it touches the next step bytes.
type prefetcher struct {
	p    Register
	step int
}

func newPrefetcher(w strided, R, blockBytes int) prefetcher {
	p := GP64()
	switch R {
	case 4:
		LEAQ(Mem{Base: w.p, Index: w.s, Scale: 4}, p)
	case 8:
		LEAQ(Mem{Base: w.p, Index: w.s, Scale: 8}, p)
	default:
		panic("prefetcher: R must be 4 or 8")
	}
	return prefetcher{p: p, step: R * blockBytes}
}

func (f prefetcher) next() {
	for off := 0; off < f.step+63; off += 64 {
		PREFETCHT0(Mem{Base: f.p, Disp: off})
	}
	ADDQ(U32(f.step), f.p)
}

// gatherF16 loads the fp16 at byte disp of each of R rows (4 or 8) and
// returns them as float32 lanes (an XMM for 4 rows, a YMM for 8).
func gatherF16(w strided, R, disp int) VecVirtual {
	x := XMM()
	for h := 0; h < R/4; h++ {
		acc, t := GP64(), GP64()
		MOVWQZX(w.at(4*h, disp), acc)
		for r := 1; r < 4; r++ {
			MOVWQZX(w.at(4*h+r, disp), t)
			SHLQ(Imm(uint64(16*r)), t)
			ORQ(t, acc)
		}
		if h == 0 {
			VMOVQ(acc, x)
		} else {
			VPINSRQ(Imm(1), acc, x, x)
		}
	}
	if R == 4 {
		VCVTPH2PS(x, x)
		return x
	}
	y := YMM()
	VCVTPH2PS(x, y)
	return y
}

// pairSum combines the int32 lanes of two rows a, b into one vector whose
// lanes (per 128-bit half) are [a0+a2, b0+b2, a1+a3, b1+b3]; b is clobbered.
func pairSum(a, b VecVirtual) {
	t := YMM()
	VPUNPCKLDQ(b, a, t)
	VPUNPCKHDQ(b, a, b)
	VPADDD(t, b, a)
}

// quadSum combines two pair sums (rows 0,1 in s01 and 2,3 in s23) into
// s01 = [r0, r1, r2, r3] partial sums per 128-bit half.
func quadSum(s01, s23 VecVirtual) {
	t := YMM()
	VPUNPCKLQDQ(s23, s01, t)
	VPUNPCKHQDQ(s23, s01, s23)
	VPADDD(t, s23, s01)
}

// legacy describes a 32-value weight type whose activations are Q8_0.
type legacy struct {
	name  string
	bytes int // block bytes
	// shift ≥ 0: the unpacked weights q are unsigned with an offset c =
	// 1<<shift: Σ(q−c)·y = Σq·y − (Σy << shift). shift < 0: the unpacked
	// weights are signed.
	shift int
	// scaleFirst: the reference accumulates (S·dw)·dx (Q4_0); otherwise
	// S·(dw·dx).
	scaleFirst bool
	table      bool // IQ4_NL: nibbles index kvalues_iq4nl
	inPlace    bool // signed weights used straight from memory (Q8_0)
	// unpack returns the block's 32 weights as bytes (element j in byte j).
	unpack func(k *legacy, b Mem) VecVirtual
}

var tbl VecVirtual // IQ4_NL's table, loaded once per kernel

// nibbles returns the 32 nibbles of the 16 bytes at m: element j (j < 16)
// is the low nibble of byte j, element j+16 its high nibble.
func nibbles(m Mem) VecVirtual {
	w := YMM()
	VBROADCASTI128(m, w)
	VPSRLVQ(cShift04, w, w)
	VPAND(cNib, w, w)
	return w
}

// highBits returns 0x10 in byte j where bit j of the uint32 at m is set.
func highBits(m Mem) VecVirtual {
	h := YMM()
	VPBROADCASTD(m, h)
	VPSHUFB(cQhShuf, h, h)
	VPOR(cBitMask, h, h)
	VPCMPEQB(cAllFF, h, h)
	VPAND(cH10, h, h)
	return h
}

var legacyKinds = []*legacy{
	{name: "Q4_0", bytes: 18, shift: 3, scaleFirst: true, unpack: func(k *legacy, b Mem) VecVirtual {
		return nibbles(b.Offset(2))
	}},
	{name: "Q5_0", bytes: 22, shift: 4, unpack: func(k *legacy, b Mem) VecVirtual {
		w := nibbles(b.Offset(6))
		VPOR(highBits(b.Offset(2)), w, w)
		return w
	}},
	{name: "Q8_0", bytes: 34, shift: -1, inPlace: true, unpack: func(k *legacy, b Mem) VecVirtual {
		w := YMM()
		VMOVDQU(b.Offset(2), w)
		return w
	}},
	{name: "IQ4_NL", bytes: 18, shift: -1, table: true, unpack: func(k *legacy, b Mem) VecVirtual {
		w := nibbles(b.Offset(2))
		VPSHUFB(w, tbl, w)
		return w
	}},
}

// maxM8 is the most tokens an 8-row tile of k takes within 16 registers.
func (k *legacy) maxM8() int {
	if k.table {
		return 3
	}
	return 4
}

// unpacked is one row's block ready for dot products with tokens.
type unpacked struct {
	w, abs VecVirtual // weights; |weights| for signed kinds
	mem    *Mem       // signed weights read in place (Q8_0): w is unused
}

func (k *legacy) load(b Mem) unpacked {
	if k.inPlace {
		m := b.Offset(2)
		u := unpacked{abs: YMM(), mem: &m}
		VPABSB(m, u.abs)
		return u
	}
	u := unpacked{w: k.unpack(k, b)}
	if k.shift < 0 {
		u.abs = YMM()
		VPABSB(u.w, u.abs)
	}
	return u
}

// dot returns the 8 int32 lane sums of the block's products with the
// token's 32 activation bytes at y.
func (k *legacy) dot(u unpacked, y Mem) VecVirtual {
	p := YMM()
	switch {
	case k.shift >= 0:
		VPMADDUBSW(y, u.w, p)
	case u.mem != nil:
		VMOVDQU(y, p)
		VPSIGNB(*u.mem, p, p)
		VPMADDUBSW(p, u.abs, p)
	default:
		VMOVDQU(y, p)
		VPSIGNB(u.w, p, p)
		VPMADDUBSW(p, u.abs, p)
	}
	VPMADDWD(cOnes16, p, p)
	return p
}

// legacyTile generates tile<K>_<R>x<M>AVX2: the dot products of R weight
// rows (ws bytes apart) with M tokens' Q8_0 activations (xs bytes apart,
// with their aux rows as bytes apart: per block float32 d and int32 Σq)
// over nb blocks, out[t·ldo + r] = Σ_blocks.
func legacyTile(k *legacy, R, M int) {
	name := fmt.Sprintf("tile%s_%dx%dAVX2", k.name, R, M)
	TEXT(name, NOSPLIT, "func(w *byte, ws int, x *byte, xs int, aux *byte, as int, nb int, out *float32, ldo int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes %d rows × %d tokens of %s weights with Q8_0 activations, as quant's reference dot product.", name, R, M, k.name))
	W := loadStrided(R, "w", "ws")
	X := loadStrided(M, "x", "xs")
	A := loadStrided(M, "aux", "as")
	n := Load(Param("nb"), GP64())
	if k.table {
		tbl = YMM()
		VMOVDQU(cIQ4NL, tbl)
	}
	// Float accumulators: registers for one token, else the stack.
	var accReg VecVirtual
	var accMem Mem
	width := 16 * (R / 4)
	if M == 1 {
		if R == 8 {
			accReg = YMM()
		} else {
			accReg = XMM()
		}
		VXORPS(accReg, accReg, accReg)
	} else {
		accMem = AllocLocal(width * M)
		z := YMM()
		VXORPS(z, z, z)
		for t := 0; t < M; t++ {
			if R == 8 {
				VMOVUPS(z, accMem.Offset(width*t))
			} else {
				VMOVUPS(z.AsX(), accMem.Offset(width*t))
			}
		}
	}
	pf := newPrefetcher(W, R, k.bytes)
	Label(name + "_loop")
	pf.next()
	dw := gatherF16(W, R, 0)
	y := func(t int) Mem { return X.at(t, 2) }
	// finish takes the R row sums of token t (an XMM for 4 rows, a YMM
	// for 8), applies the offset correction and the scales, and adds them
	// to the token's accumulator.
	finish := func(s VecVirtual, t int) {
		if k.shift >= 0 {
			c := YMM()
			if R == 4 {
				c = XMM()
			}
			VPBROADCASTD(A.at(t, 4), c)
			VPSLLD(Imm(uint64(k.shift)), c, c)
			VPSUBD(c, s, s)
		}
		f := s
		VCVTDQ2PS(s, f)
		dx := YMM()
		if R == 4 {
			dx = XMM()
		}
		VBROADCASTSS(A.at(t, 0), dx)
		if k.scaleFirst {
			VMULPS(dw, f, f)
			VMULPS(dx, f, f)
		} else {
			VMULPS(dw, dx, dx)
			VMULPS(dx, f, f)
		}
		if M == 1 {
			VADDPS(f, accReg, accReg)
		} else {
			VADDPS(accMem.Offset(width*t), f, f)
			VMOVUPS(f, accMem.Offset(width*t))
		}
	}
	// pair returns, per token, the pair sum of rows a and a+1.
	pair := func(a int) []VecVirtual {
		u0 := k.load(W.at(a, 0))
		u1 := k.load(W.at(a+1, 0))
		out := make([]VecVirtual, M)
		for t := 0; t < M; t++ {
			p0 := k.dot(u0, y(t))
			p1 := k.dot(u1, y(t))
			pairSum(p0, p1)
			out[t] = p0
		}
		return out
	}
	// quad returns per token the sums of rows a..a+3, [r0..r3] per 128-bit
	// half; with last set it hands each token's sums to last instead.
	quad := func(a int, last func(e VecVirtual, t int)) []VecVirtual {
		s01 := pair(a)
		u2 := k.load(W.at(a+2, 0))
		u3 := k.load(W.at(a+3, 0))
		for t := 0; t < M; t++ {
			p2 := k.dot(u2, y(t))
			p3 := k.dot(u3, y(t))
			pairSum(p2, p3)
			quadSum(s01[t], p2)
			if last != nil {
				last(s01[t], t)
			}
		}
		return s01
	}
	if R == 4 {
		quad(0, func(e VecVirtual, t int) {
			x := XMM()
			VEXTRACTI128(Imm(1), e, x)
			VPADDD(x, e.AsX(), x)
			finish(x, t)
		})
	} else {
		e0 := quad(0, nil)
		quad(4, func(e VecVirtual, t int) {
			g := YMM()
			VPERM2I128(Imm(0x20), e, e0[t], g)
			VPERM2I128(Imm(0x31), e, e0[t], e)
			VPADDD(e, g, g)
			finish(g, t)
		})
	}
	W.advance(k.bytes)
	X.advance(34)
	A.advance(8)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))

	o := Load(Param("out"), GP64())
	ldo := Load(Param("ldo"), GP64())
	SHLQ(Imm(2), ldo)
	for t := 0; t < M; t++ {
		if t > 0 {
			ADDQ(ldo, o)
		}
		if M == 1 {
			VMOVUPS(accReg, Mem{Base: o})
		} else if R == 8 {
			v := YMM()
			VMOVUPS(accMem.Offset(width*t), v)
			VMOVUPS(v, Mem{Base: o})
		} else {
			v := XMM()
			VMOVUPS(accMem.Offset(width*t), v)
			VMOVUPS(v, Mem{Base: o})
		}
	}
	VZEROUPPER()
	RET()
}

// quantActQ8_0 generates quantActQ8_0AVX2(x *float32, nb int, dst, aux
// *byte): ggml-cpu's x86 AVX2 quantize_row_q8_0 of nb blocks of x into dst
// (byte-exact with quant's reference), and into aux per block the float32
// value of the stored fp16 scale and the int32 sum of the stored quants
// (8 bytes per block), followed by the quants of all blocks back to back
// (32 bytes per block), the layout the 512-bit kernels read.
func quantActQ8_0() {
	name := "quantActQ8_0AVX2"
	TEXT(name, NOSPLIT, "func(x *float32, nb int, dst *byte, aux *byte)")
	Pragma("noescape")
	Doc(name + " quantizes nb 32-value blocks of x to Q8_0 as ggml-cpu's AVX2 code does, writing the scale as float32 and Σq per block to aux, then the quants back to back.")
	x := Load(Param("x"), GP64())
	n := Load(Param("nb"), GP64())
	dst := Load(Param("dst"), GP64())
	aux := Load(Param("aux"), GP64())
	plain := GP64()
	LEAQ(Mem{Base: aux, Index: n, Scale: 8}, plain)
	Label(name + "_loop")
	v := make([]VecVirtual, 4)
	for i := range v {
		v[i] = YMM()
		VMOVUPS(Mem{Base: x, Disp: 32 * i}, v[i])
	}
	// amax exactly as ggml's AVX2 reduction orders its maxps.
	m := YMM()
	VANDPS(cAbs, v[0], m)
	for i := 1; i < 4; i++ {
		a := YMM()
		VANDPS(cAbs, v[i], a)
		VMAXPS(a, m, m)
	}
	hi := XMM()
	VEXTRACTF128(Imm(1), m, hi)
	VMAXPS(m.AsX(), hi, hi)
	t := XMM()
	VMOVHLPS(hi, hi, t)
	VMAXPS(t, hi, hi)
	VMOVSHDUP(hi, t)
	VMAXSS(t, hi, hi) // amax in lane 0
	c127 := XMM()
	VMOVSS(cF127, c127)
	d := XMM()
	VDIVSS(c127, hi, d) // d = amax/127
	id := XMM()
	VDIVSS(hi, c127, id) // id = 127/amax
	z := XMM()
	VXORPS(z, z, z)
	VCMPSS(Imm(0), z, hi, z) // amax == 0
	VANDNPS(id, z, id)
	idv := YMM()
	VBROADCASTSS(id, idv)
	for i := range v {
		VMULPS(idv, v[i], v[i])
		VROUNDPS(Imm(0), v[i], v[i])
		VCVTTPS2DQ(v[i], v[i])
	}
	VPACKSSDW(v[1], v[0], v[0])
	VPACKSSDW(v[3], v[2], v[2])
	VPACKSSWB(v[2], v[0], v[0])
	perm := YMM()
	VMOVDQU(cPerm, perm)
	VPERMD(v[0], perm, v[0])
	VMOVDQU(v[0], Mem{Base: dst, Disp: 2})
	VMOVDQU(v[0], Mem{Base: plain})
	// fp16 scale, and its float32 value.
	VCVTPS2PH(Imm(0), d, d)
	VPEXTRW(Imm(0), d, Mem{Base: dst})
	VCVTPH2PS(d, d)
	VMOVSS(d, Mem{Base: aux})
	// Σq over the stored bytes.
	s := YMM()
	VMOVDQU(cOnes8, s)
	VPMADDUBSW(v[0], s, s)
	VPMADDWD(cOnes16, s, s)
	sx := XMM()
	VEXTRACTI128(Imm(1), s, sx)
	VPADDD(s.AsX(), sx, sx)
	t2 := XMM()
	VPSHUFD(Imm(0x4e), sx, t2)
	VPADDD(t2, sx, sx)
	VPSHUFD(Imm(0xb1), sx, t2)
	VPADDD(t2, sx, sx)
	VMOVD(sx, Mem{Base: aux, Disp: 4})

	ADDQ(U32(128), x)
	ADDQ(Imm(34), dst)
	ADDQ(Imm(8), aux)
	ADDQ(Imm(32), plain)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))
	VZEROUPPER()
	RET()
}

func quantKernels() {
	quantConsts()
	quantActQ8_0()
	for _, k := range legacyKinds {
		for m := 1; m <= 4; m++ {
			legacyTile(k, 4, m)
		}
		for m := 1; m <= k.maxM8(); m++ {
			legacyTile(k, 8, m)
		}
	}
	kKernels()
}

// ---- Q8_K activations and the 256-value super-block types.

// More constants.
var (
	cMagic8 Mem // 8 × float32 12582912 (1.5·2^23)
	cMant   Mem // int32 0x7fffff
	cOff    Mem // int32 0x400000
	cI127   Mem // int32 127
	cLow8   Mem // int32 0xff
	cF1     Mem // float32 1
	cFm127  Mem // float32 −127
	cK4Ctl  Mem // 8 × 32 bytes: VPSHUFB controls broadcasting int16 k
	cK6Ctl  Mem // 4 × 32 bytes: Q6_K scale controls (low lane word 2k, high lane word 2k+1)
	cB02    Mem // 32 × 0x02
	cB03    Mem // 32 × 0x03
	cB0C    Mem // 32 × 0x0c
	cB30    Mem // 32 × 0x30
	cBC0    Mem // 32 × 0xc0
	cLow4W  Mem // 16 × int16 0x000f
	c32W    Mem // 16 × int16 32
	kConsts bool
)

func kquantConsts() {
	if kConsts {
		return
	}
	kConsts = true
	cMagic8 = bytesConst("q_magic8", u32s(0x4b400000, 0x4b400000, 0x4b400000, 0x4b400000, 0x4b400000, 0x4b400000, 0x4b400000, 0x4b400000))
	cMant = bytesConst("q_mant", u32s(0x7fffff, 0x7fffff, 0x7fffff, 0x7fffff, 0x7fffff, 0x7fffff, 0x7fffff, 0x7fffff))
	cOff = bytesConst("q_off", u32s(0x400000, 0x400000, 0x400000, 0x400000, 0x400000, 0x400000, 0x400000, 0x400000))
	cI127 = bytesConst("q_i127", u32s(127, 127, 127, 127, 127, 127, 127, 127))
	cLow8 = bytesConst("q_low8", u32s(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
	cF1 = bytesConst("q_f1", u32s(0x3f800000))
	cFm127 = bytesConst("q_fm127", u32s(0xc2fe0000))
	var k4 []byte
	for k := 0; k < 8; k++ {
		for i := 0; i < 16; i++ {
			k4 = append(k4, byte(2*k), byte(2*k+1))
		}
	}
	cK4Ctl = bytesConst("q_k4ctl", k4)
	var k6 []byte
	for k := 0; k < 4; k++ {
		for i := 0; i < 8; i++ {
			k6 = append(k6, byte(4*k), byte(4*k+1))
		}
		for i := 0; i < 8; i++ {
			k6 = append(k6, byte(4*k+2), byte(4*k+3))
		}
	}
	cK6Ctl = bytesConst("q_k6ctl", k6)
	cB02 = bytesConst("q_b02", repeat(0x02, 32))
	cB03 = bytesConst("q_b03", repeat(0x03, 32))
	cB0C = bytesConst("q_b0c", repeat(0x0c, 32))
	cB30 = bytesConst("q_b30", repeat(0x30, 32))
	cBC0 = bytesConst("q_bc0", repeat(0xc0, 32))
	var l4, w32 []byte
	for i := 0; i < 16; i++ {
		l4 = append(l4, 0x0f, 0)
		w32 = append(w32, 32, 0)
	}
	cLow4W = bytesConst("q_low4w", l4)
	c32W = bytesConst("q_32w", w32)
}

// quantActQ8_K generates quantActQ8_KAVX2(x *float32, nb int, dst *byte):
// quantize_row_q8_K_ref of nb 256-value super-blocks, byte-exact: the
// signed value of largest magnitude (the first one on ties, NaN ignored),
// iscale = −127/max, q = min(127, nearest_int(iscale·x)) truncated to int8,
// d = 1/iscale, and the 16 sums of 16 quants.
func quantActQ8_K() {
	name := "quantActQ8_KAVX2"
	TEXT(name, NOSPLIT, "func(x *float32, nb int, dst *byte)")
	Pragma("noescape")
	Doc(name + " quantizes nb 256-value super-blocks of x to Q8_K as quantize_row_q8_K_ref does.")
	x := Load(Param("x"), GP64())
	n := Load(Param("nb"), GP64())
	dst := Load(Param("dst"), GP64())
	abs := YMM()
	VMOVUPS(cAbs, abs)
	Label(name + "_loop")
	// amax, NaN ignored: maxps returns its second source when either is NaN.
	m := YMM()
	VXORPS(m, m, m)
	for i := 0; i < 32; i++ {
		a := YMM()
		VANDPS(Mem{Base: x, Disp: 32 * i}, abs, a)
		VMAXPS(m, a, m)
	}
	hi := XMM()
	VEXTRACTF128(Imm(1), m, hi)
	VMAXPS(m.AsX(), hi, hi)
	t := XMM()
	VMOVHLPS(hi, hi, t)
	VMAXPS(t, hi, hi)
	VMOVSHDUP(hi, t)
	VMAXSS(t, hi, hi)
	amax := YMM()
	VBROADCASTSS(hi, amax)
	z := XMM()
	VXORPS(z, z, z)
	VUCOMISS(z, amax.AsX())
	JNE(LabelRef(name + "_nonzero"))
	// All zero (or NaN): d = 0, qs and bsums zero.
	zy := YMM()
	VXORPS(zy, zy, zy)
	MOVL(U32(0), Mem{Base: dst})
	for i := 0; i < 9; i++ {
		VMOVDQU(zy, Mem{Base: dst, Disp: 4 + 32*i})
	}
	JMP(LabelRef(name + "_next"))
	Label(name + "_nonzero")
	// The first index whose magnitude equals amax.
	idx, mask := GP64(), GP64()
	XORQ(idx, idx)
	Label(name + "_find")
	a := YMM()
	VANDPS(Mem{Base: x, Index: idx, Scale: 4}, abs, a)
	VCMPPS(Imm(0), amax, a, a)
	VMOVMSKPS(a, mask.As32())
	TESTQ(mask, mask)
	JNZ(LabelRef(name + "_found"))
	ADDQ(Imm(8), idx)
	JMP(LabelRef(name + "_find"))
	Label(name + "_found")
	TZCNTQ(mask, mask)
	ADDQ(mask, idx)
	mx := XMM()
	VMOVSS(Mem{Base: x, Index: idx, Scale: 4}, mx)
	iscale := XMM()
	VMOVSS(cFm127, iscale)
	VDIVSS(mx, iscale, iscale) // −127/max
	d := XMM()
	VMOVSS(cF1, d)
	VDIVSS(iscale, d, d) // 1/iscale
	VMOVSS(d, Mem{Base: dst})
	isv := YMM()
	VBROADCASTSS(iscale, isv)
	perm := YMM()
	VMOVDQU(cPerm, perm)
	var sums []VecVirtual
	for g := 0; g < 8; g++ {
		v := make([]VecVirtual, 4)
		for i := range v {
			v[i] = YMM()
			VMULPS(Mem{Base: x, Disp: 128*g + 32*i}, isv, v[i])
			VADDPS(cMagic8, v[i], v[i])
			VPAND(cMant, v[i], v[i])
			VPSUBD(cOff, v[i], v[i])
			VPMINSD(cI127, v[i], v[i])
			VPAND(cLow8, v[i], v[i])
		}
		VPACKUSDW(v[1], v[0], v[0])
		VPACKUSDW(v[3], v[2], v[2])
		VPACKUSWB(v[2], v[0], v[0])
		VPERMD(v[0], perm, v[0])
		VMOVDQU(v[0], Mem{Base: dst, Disp: 4 + 32*g})
		s := YMM()
		VMOVDQU(cOnes8, s)
		VPMADDUBSW(v[0], s, s)
		VPMADDWD(cOnes16, s, s)
		sums = append(sums, s)
	}
	// sums[g] lane i = Σ of quants 32g+4i .. 32g+4i+3; bsum j covers 16.
	for h := 0; h < 2; h++ {
		s := sums[4*h : 4*h+4]
		VPHADDD(s[1], s[0], s[0])
		VPHADDD(s[3], s[2], s[2])
		VPHADDD(s[2], s[0], s[0])
		VPERMD(s[0], perm, s[0])
		hx := XMM()
		VEXTRACTI128(Imm(1), s[0], hx)
		VPACKSSDW(hx, s[0].AsX(), hx)
		VMOVDQU(hx, Mem{Base: dst, Disp: 260 + 16*h})
	}
	Label(name + "_next")
	ADDQ(U32(1024), x)
	ADDQ(U32(292), dst)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))
	VZEROUPPER()
	RET()
}

// kquant describes a 256-value super-block type with Q8_K activations and
// one float accumulation per super-block.
type kquant struct {
	name  string
	bytes int
	mins  bool // Q2_K, Q4_K, Q5_K: d·isum − dmin·Σ(bsums·mins)
	// pairs: the row work takes the bsums summed in pairs (one per 32
	// values: Q4_K, Q5_K).
	pairs bool
	dOff  int // offset of the fp16 d (dmin follows it when mins)
	// row emits the integer work of one row's super-block at b for M
	// tokens (y(t) addresses token t's Q8_K block) and returns per token
	// the 8 int32 lanes of isum and, with mins, 4 lanes of Σ bsums·mins.
	row func(b Mem, M int, y func(t, disp int) Mem, bs func(t int) Mem) (isum, summs []VecVirtual)
}

// q4kScales unpacks the 12 scale bytes at b+4 into [sc0..7 | m0..7] as
// int16 and returns the scales duplicated in both lanes and the mins. It
// needs three general registers.
func q4kScales(b Mem) (sc VecVirtual, mn VecVirtual) {
	x := XMM()
	// lo: u0 (sc0..3) or u1 (m0..3); hi: sc4..7 = (u2 & 0x0f0f0f0f) |
	// ((u0 >> 6) & 0x03030303) << 4, m4..7 = ((u2 >> 4) & 0x0f0f0f0f) |
	// ((u1 >> 6) & 0x03030303) << 4.
	for h, off := range []int{4, 8} {
		lo, hi, u2 := GP64(), GP64(), GP64()
		MOVL(b.Offset(off), lo.As32())
		MOVL(lo.As32(), hi.As32())
		SHRL(Imm(6), hi.As32())
		ANDL(U32(0x03030303), hi.As32())
		SHLL(Imm(4), hi.As32())
		MOVL(b.Offset(12), u2.As32())
		if h == 1 {
			SHRL(Imm(4), u2.As32())
		}
		ANDL(U32(0x0f0f0f0f), u2.As32())
		ORL(u2.As32(), hi.As32())
		ANDL(U32(0x3f3f3f3f), lo.As32())
		SHLQ(Imm(32), hi)
		ORQ(lo, hi)
		if h == 0 {
			VMOVQ(hi, x)
		} else {
			VPINSRQ(Imm(1), hi, x, x)
		}
	}
	all := YMM()
	VPMOVZXBW(x, all)
	sc = YMM()
	VPERMQ(Imm(0x44), all, sc)
	mn = XMM()
	VEXTRACTI128(Imm(1), all, mn)
	return sc, mn
}

// q45kRow is the row work of Q4_K (qh false) and Q5_K.
func q45kRow(qh bool) func(b Mem, M int, y func(t, disp int) Mem, bs func(t int) Mem) ([]VecVirtual, []VecVirtual) {
	return func(b Mem, M int, y func(t, disp int) Mem, bs func(t int) Mem) ([]VecVirtual, []VecVirtual) {
		sc, mn := q4kScales(b)
		summs := make([]VecVirtual, M)
		for t := 0; t < M; t++ {
			summs[t] = XMM()
			VPMADDWD(bs(t), mn, summs[t])
		}
		qsOff := 16
		var h VecVirtual
		if qh {
			qsOff = 48
			h = YMM()
			VMOVDQU(b.Offset(16), h)
		}
		isum := make([]VecVirtual, M)
		for j := 0; j < 4; j++ {
			lo, hi := YMM(), YMM()
			VMOVDQU(b.Offset(qsOff+32*j), lo)
			VPSRLW(Imm(4), lo, hi)
			VPAND(cNib, lo, lo)
			VPAND(cNib, hi, hi)
			if qh {
				if j > 0 {
					VPSRLW(Imm(2), h, h)
				}
				b1 := YMM()
				VPAND(cOnes8, h, b1)
				VPSLLW(Imm(4), b1, b1)
				VPOR(b1, lo, lo)
				VPAND(cB02, h, b1)
				VPSLLW(Imm(3), b1, b1)
				VPOR(b1, hi, hi)
			}
			sLo, sHi := YMM(), YMM()
			VPSHUFB(cK4Ctl.Offset(64*j), sc, sLo)
			VPSHUFB(cK4Ctl.Offset(64*j+32), sc, sHi)
			for t := 0; t < M; t++ {
				p, q := YMM(), YMM()
				VPMADDUBSW(y(t, 4+64*j), lo, p)
				VPMADDWD(sLo, p, p)
				VPMADDUBSW(y(t, 4+64*j+32), hi, q)
				VPMADDWD(sHi, q, q)
				if j == 0 {
					isum[t] = p
				} else {
					VPADDD(p, isum[t], isum[t])
				}
				VPADDD(q, isum[t], isum[t])
			}
		}
		return isum, summs
	}
}

// q6kRow is the row work of Q6_K: isum = Σ sc·Σq·y − 32·Σ sc·bsums.
func q6kRow(b Mem, M int, y func(t, disp int) Mem, _ func(t int) Mem) ([]VecVirtual, []VecVirtual) {
	sc16 := YMM()
	VPMOVSXBW(b.Offset(192), sc16)
	isum := make([]VecVirtual, M)
	for c := 0; c < 2; c++ {
		scc := YMM()
		if c == 0 {
			VPERMQ(Imm(0x44), sc16, scc)
		} else {
			VPERMQ(Imm(0xee), sc16, scc)
		}
		h := YMM()
		VMOVDQU(b.Offset(128+32*c), h)
		for k := 0; k < 4; k++ {
			q, hb := YMM(), YMM()
			l := b.Offset(64*c + 32*(k%2))
			switch k {
			case 0:
				VPAND(l, cNibReg(), q)
				VPAND(cB03, h, hb)
				VPSLLW(Imm(4), hb, hb)
			case 1:
				VPAND(l, cNibReg(), q)
				VPAND(cB0C, h, hb)
				VPSLLW(Imm(2), hb, hb)
			case 2:
				VMOVDQU(l, q)
				VPSRLW(Imm(4), q, q)
				VPAND(cNib, q, q)
				VPAND(cB30, h, hb)
			case 3:
				VMOVDQU(l, q)
				VPSRLW(Imm(4), q, q)
				VPAND(cNib, q, q)
				VPAND(cBC0, h, hb)
				VPSRLW(Imm(2), hb, hb)
			}
			VPOR(hb, q, q)
			s := YMM()
			VPSHUFB(cK6Ctl.Offset(32*k), scc, s)
			for t := 0; t < M; t++ {
				p := YMM()
				VPMADDUBSW(y(t, 4+128*c+32*k), q, p)
				VPMADDWD(s, p, p)
				if c == 0 && k == 0 {
					isum[t] = p
				} else {
					VPADDD(p, isum[t], isum[t])
				}
			}
		}
	}
	for t := 0; t < M; t++ {
		corr := YMM()
		VPMADDWD(y(t, 260), sc16, corr)
		VPSLLD(Imm(5), corr, corr)
		VPSUBD(corr, isum[t], isum[t])
	}
	return isum, nil
}

var nibReg VecVirtual

// cNibReg returns the nibble mask in a register (loaded once per kernel).
func cNibReg() VecVirtual { return nibReg }

var kquantKinds = []*kquant{
	{name: "Q4_K", bytes: 144, mins: true, pairs: true, dOff: 0, row: q45kRow(false)},
	{name: "Q5_K", bytes: 176, mins: true, pairs: true, dOff: 0, row: q45kRow(true)},
	{name: "Q6_K", bytes: 210, dOff: 208, row: q6kRow},
	{name: "Q2_K", bytes: 84, mins: true, dOff: 80, row: q2kRow},
	{name: "Q3_K", bytes: 110, dOff: 108, row: q3kRow},
}

// q2kRow is the row work of Q2_K: per 16 values a 4-bit scale and a 4-bit
// min; isum = Σ scale·Σq·y, summs = Σ min·bsum.
func q2kRow(b Mem, M int, y func(t, disp int) Mem, _ func(t int) Mem) ([]VecVirtual, []VecVirtual) {
	raw := YMM()
	VPMOVZXBW(b, raw) // sc[0..15] as words
	mn := YMM()
	VPSRLW(Imm(4), raw, mn)
	d := YMM()
	VPAND(cLow4W, raw, d)
	summs := make([]VecVirtual, M)
	for t := 0; t < M; t++ {
		s := YMM()
		VPMADDWD(y(t, 260), mn, s)
		hx := XMM()
		vextracti128(Imm(1), s, hx)
		VPADDD(s.AsX(), hx, hx)
		summs[t] = hx
	}
	dLo, dHi := YMM(), YMM()
	VPERMQ(Imm(0x44), d, dLo)
	VPERMQ(Imm(0xee), d, dHi)
	isum := make([]VecVirtual, M)
	for k := 0; k < 2; k++ {
		qv := YMM()
		VMOVDQU(b.Offset(16+32*k), qv)
		for sh := 0; sh < 4; sh++ {
			g := 4*k + sh
			q := YMM()
			if sh == 0 {
				VPAND(cB03, qv, q)
			} else {
				VPSRLW(Imm(uint64(2*sh)), qv, q)
				VPAND(cB03, q, q)
			}
			src := dLo
			if g >= 4 {
				src = dHi
			}
			sv := YMM()
			VPSHUFB(cK6Ctl.Offset(32*(g%4)), src, sv)
			for t := 0; t < M; t++ {
				p := YMM()
				VPMADDUBSW(y(t, 4+128*k+32*sh), q, p)
				VPMADDWD(sv, p, p)
				if g == 0 {
					isum[t] = p
				} else {
					VPADDD(p, isum[t], isum[t])
				}
			}
		}
	}
	return isum, summs
}

// q3kRow is the row work of Q3_K: v = q + 4·hbit − 4 in [−4, 3] with a
// signed 6-bit scale (−32) per 16 values; with u = v + 4 in [0, 7],
// isum = Σ sc·Σu·y − 4·Σ sc·bsum.
func q3kRow(b Mem, M int, y func(t, disp int) Mem, _ func(t int) Mem) ([]VecVirtual, []VecVirtual) {
	x := XMM()
	for h := 0; h < 2; h++ {
		// aux[h] = a_h & k2 | ((tmp >> 2h) & k1) << 4;
		// aux[2+h] = (a_h >> 4) & k2 | ((tmp >> (4+2h)) & k1) << 4.
		lo, hi, t := GP64(), GP64(), GP64()
		MOVL(b.Offset(96+4*h), lo.As32())
		MOVL(lo.As32(), hi.As32())
		ANDL(U32(0x0f0f0f0f), lo.As32())
		MOVL(b.Offset(104), t.As32())
		if h > 0 {
			SHRL(Imm(uint64(2*h)), t.As32())
		}
		ANDL(U32(0x03030303), t.As32())
		SHLL(Imm(4), t.As32())
		ORL(t.As32(), lo.As32())
		SHRL(Imm(4), hi.As32())
		ANDL(U32(0x0f0f0f0f), hi.As32())
		MOVL(b.Offset(104), t.As32())
		SHRL(Imm(uint64(4+2*h)), t.As32())
		ANDL(U32(0x03030303), t.As32())
		SHLL(Imm(4), t.As32())
		ORL(t.As32(), hi.As32())
		// Bytes 0..3 = aux[h], 8..11 = aux[2+h]: x holds aux[0], aux[1],
		// aux[2], aux[3] as dwords 0..3.
		if h == 0 {
			VMOVD(lo.As32(), x)
			VPINSRD(Imm(2), hi.As32(), x, x)
		} else {
			VPINSRD(Imm(1), lo.As32(), x, x)
			VPINSRD(Imm(3), hi.As32(), x, x)
		}
	}
	sc := YMM()
	VPMOVZXBW(x, sc)
	VPSUBW(c32W, sc, sc)
	hm := YMM()
	VMOVDQU(b, hm)
	scLo, scHi := YMM(), YMM()
	VPERMQ(Imm(0x44), sc, scLo)
	VPERMQ(Imm(0xee), sc, scHi)
	isum := make([]VecVirtual, M)
	for c := 0; c < 2; c++ {
		qv := YMM()
		VMOVDQU(b.Offset(32+32*c), qv)
		for sh := 0; sh < 4; sh++ {
			g := 4*c + sh
			u, h := YMM(), YMM()
			if sh == 0 {
				VPAND(cB03, qv, u)
			} else {
				VPSRLW(Imm(uint64(2*sh)), qv, u)
				VPAND(cB03, u, u)
			}
			if g == 0 {
				VPAND(cOnes8, hm, h)
			} else {
				VPSRLW(Imm(uint64(g)), hm, h)
				VPAND(cOnes8, h, h)
			}
			VPSLLW(Imm(2), h, h)
			VPOR(h, u, u)
			src := scLo
			if g >= 4 {
				src = scHi
			}
			sv := YMM()
			VPSHUFB(cK6Ctl.Offset(32*(g%4)), src, sv)
			for t := 0; t < M; t++ {
				p := YMM()
				VPMADDUBSW(y(t, 4+128*c+32*sh), u, p)
				VPMADDWD(sv, p, p)
				if g == 0 {
					isum[t] = p
				} else {
					VPADDD(p, isum[t], isum[t])
				}
			}
		}
	}
	for t := 0; t < M; t++ {
		corr := YMM()
		VPMADDWD(y(t, 260), sc, corr)
		VPSLLD(Imm(2), corr, corr)
		VPSUBD(corr, isum[t], isum[t])
	}
	return isum, nil
}

// kquantTile generates tile<K>_<R>x<M>AVX2 for a super-block type: each
// row's integer sums per token go to the stack, then per token the R rows
// are reduced into lanes and the float update runs as the reference's.
func kquantTile(k *kquant, R, M int) { kquantTileSuffix(k, R, M, "AVX2") }

// kquantTileSuffix is kquantTile for the row work of k, naming the kernel
// with suffix (the instruction set its row work uses).
func kquantTileSuffix(k *kquant, R, M int, suffix string) {
	name := fmt.Sprintf("tile%s_%dx%d%s", k.name, R, M, suffix)
	evex = suffix == "AVX512"
	defer func() { evex = false }()
	// Large frames (per (row, token) slots) cannot be NOSPLIT.
	var a attr.Attribute = NOSPLIT
	if R*M > 16 {
		a = 0
	}
	TEXT(name, a, "func(w *byte, ws int, x *byte, xs int, aux *byte, as int, nb int, out *float32, ldo int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes %d rows × %d tokens of %s weights with Q8_K activations, as quant's reference dot product.", name, R, M, k.name))
	W := loadStrided(R, "w", "ws")
	X := loadStrided(M, "x", "xs")
	n := Load(Param("nb"), GP64())
	nibReg = YMM()
	vmovdqu(cNib, nibReg)
	// AVX-512 kernels of up to four tokens keep their constants in registers
	// (and the one-token kernels load the activations once per super-block
	// for all rows): decode is bound by these kernels' instruction count.
	light := suffix == "AVX512" && M <= 4
	if suffix == "AVX512" {
		zero512 = ZMM()
		VPXORD(zero512, zero512, zero512)
		defer unhoist()
	}
	if light {
		switch k.name {
		case "Q4_K", "Q5_K":
			hoist(zShiftH, zNib, zK4Idx, zK4Idx.Offset(64), zK4Idx.Offset(128), zK4Idx.Offset(192))
		case "Q6_K":
			hoist(zNib, zW02, zW46, z03, zK6Idx, zK6Idx.Offset(64), zK6Idx.Offset(128), zK6Idx.Offset(192))
		}
	}
	slots := AllocLocal(32 * R * M) // per (r, t): [isum 4 lanes | summs 4 lanes]
	slot := func(r, t int) Mem { return slots.Offset(32 * (r*M + t)) }
	var bsm Mem
	if k.pairs {
		bsm = AllocLocal(16 * M)
	}
	width := 16 * (R / 4)
	var accReg VecVirtual
	var accMem Mem
	if M == 1 {
		accReg = YMM()
		if R == 4 {
			accReg = XMM()
		}
		VXORPS(accReg, accReg, accReg)
	} else {
		accMem = AllocLocal(width * M)
		z := YMM()
		VXORPS(z, z, z)
		for t := 0; t < M; t++ {
			if R == 8 {
				VMOVUPS(z, accMem.Offset(width*t))
			} else {
				VMOVUPS(z.AsX(), accMem.Offset(width*t))
			}
		}
	}
	y := func(t, disp int) Mem { return X.at(t, disp) }
	pf := newPrefetcher(W, R, k.bytes)
	Label(name + "_loop")
	pf.next()
	if k.pairs {
		ones16 := YMM()
		vmovdqu(cOnes16, ones16)
		// Per token: the 8 sums of pairs of bsums (one per 32 values).
		for t := 0; t < M; t++ {
			s := YMM()
			VPMADDWD(X.at(t, 260), ones16, s)
			hx := XMM()
			vextracti128(Imm(1), s, hx)
			VPACKSSDW(hx, s.AsX(), hx)
			vmovdqu(hx, bsm.Offset(16*t))
		}
	}
	if light && M == 1 {
		clear(yPre)
		preloadY(y, 4, 68, 132, 196)
	}
	for r := 0; r < R; r++ {
		isum, summs := k.row(W.at(r, 0), M, y, func(t int) Mem { return bsm.Offset(16 * t) })
		for t := 0; t < M; t++ {
			hx := XMM()
			vextracti128(Imm(1), isum[t], hx)
			VPADDD(isum[t].AsX(), hx, hx)
			vmovdqu(hx, slot(r, t))
			if k.mins {
				vmovdqu(summs[t], slot(r, t).Offset(16))
			}
		}
	}
	// Float scales of the R rows.
	var d, dm VecVirtual
	if R == 8 {
		d = gatherF16(W, 8, k.dOff)
		if k.mins {
			dm = gatherF16(W, 8, k.dOff+2)
		}
	} else if k.mins {
		d = gatherF16x2(W, k.dOff) // [d0..3 | dmin0..3]
	} else {
		d = gatherF16(W, 4, k.dOff)
	}
	for t := 0; t < M; t++ {
		v := make([]VecVirtual, R)
		for r := range v {
			v[r] = YMM()
			vmovdqu(slot(r, t), v[r])
		}
		for g := 0; g < R; g += 4 {
			pairSum(v[g], v[g+1])
			pairSum(v[g+2], v[g+3])
			quadSum(v[g], v[g+2])
		}
		yd := YMM()
		VBROADCASTSS(X.at(t, 0), yd)
		f := YMM()
		if R == 8 {
			iv, sv := YMM(), YMM()
			vperm2i128(U8(0x20), v[4], v[0], iv)
			VCVTDQ2PS(iv, iv)
			dd := YMM()
			VMULPS(yd, d, dd)
			VMULPS(dd, iv, f)
			if k.mins {
				vperm2i128(U8(0x31), v[4], v[0], sv)
				VCVTDQ2PS(sv, sv)
				VMULPS(yd, dm, dd)
				VMULPS(dd, sv, sv)
				VSUBPS(sv, f, f)
			}
		} else {
			dd := YMM()
			VCVTDQ2PS(v[0], f)
			if k.mins {
				VMULPS(yd, d, dd)
				VMULPS(dd, f, f)
				bx := XMM()
				vextractf128(Imm(1), f, bx)
				VSUBPS(bx, f.AsX(), f.AsX())
			} else {
				VMULPS(yd.AsX(), d, dd.AsX())
				VMULPS(dd.AsX(), f.AsX(), f.AsX())
			}
		}
		var fr Register = f
		if R == 4 {
			fr = f.AsX()
		}
		if M == 1 {
			VADDPS(fr, accReg, accReg)
		} else {
			VADDPS(accMem.Offset(width*t), fr, fr)
			VMOVUPS(fr, accMem.Offset(width*t))
		}
	}
	W.advance(k.bytes)
	X.advance(292)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))
	storeAcc(R, M, accReg, accMem, width)
	VZEROUPPER()
	RET()
}

// evex is set while generating AVX-512 kernels: the shared code then uses
// instructions with an EVEX encoding, so that any register works.
var evex bool

func vextracti128(i Op, y, x Op) {
	if evex {
		VEXTRACTI32X4(i, y, x)
	} else {
		VEXTRACTI128(i, y, x)
	}
}

func vextractf128(i Op, y, x Op) {
	if evex {
		VEXTRACTF32X4(i, y, x)
	} else {
		VEXTRACTF128(i, y, x)
	}
}

func vmovdqu(src, dst Op) {
	if evex {
		VMOVDQU32(src, dst)
	} else {
		VMOVDQU(src, dst)
	}
}

// vperm2i128 takes 0x20 (low lanes) or 0x31 (high lanes).
func vperm2i128(i U8, b, a, dst Op) {
	if !evex {
		VPERM2I128(i, b, a, dst)
		return
	}
	switch i {
	case 0x20:
		VSHUFI64X2(U8(0), b, a, dst)
	case 0x31:
		VSHUFI64X2(U8(3), b, a, dst)
	default:
		panic("vperm2i128: unsupported selector")
	}
}

// gatherF16x2 loads, for 4 rows, the fp16 pair at disp (d, dmin) and
// returns [d0..d3 | dmin0..dmin3] as float32.
func gatherF16x2(w strided, disp int) VecVirtual {
	x := XMM()
	for h := 0; h < 2; h++ {
		acc, t := GP64(), GP64()
		MOVWQZX(w.at(0, disp+2*h), acc)
		for r := 1; r < 4; r++ {
			MOVWQZX(w.at(r, disp+2*h), t)
			SHLQ(Imm(uint64(16*r)), t)
			ORQ(t, acc)
		}
		if h == 0 {
			VMOVQ(acc, x)
		} else {
			VPINSRQ(Imm(1), acc, x, x)
		}
	}
	y := YMM()
	VCVTPH2PS(x, y)
	return y
}

// storeAcc writes the M accumulators to out (ldo floats apart).
func storeAcc(R, M int, accReg VecVirtual, accMem Mem, width int) {
	o := Load(Param("out"), GP64())
	ldo := Load(Param("ldo"), GP64())
	SHLQ(Imm(2), ldo)
	for t := 0; t < M; t++ {
		if t > 0 {
			ADDQ(ldo, o)
		}
		if M == 1 {
			VMOVUPS(accReg, Mem{Base: o})
		} else if R == 8 {
			v := YMM()
			VMOVUPS(accMem.Offset(width*t), v)
			VMOVUPS(v, Mem{Base: o})
		} else {
			v := XMM()
			VMOVUPS(accMem.Offset(width*t), v)
			VMOVUPS(v, Mem{Base: o})
		}
	}
}

// iq4xsTile generates tileIQ4_XS_<R>x<M>AVX2: per 32-value sub-block
// sumf += (d·yd·(ls−32))·Σq·y, as ggml_vec_dot_iq4_xs_q8_K's reference.
func iq4xsTile(R, M int) {
	name := fmt.Sprintf("tileIQ4_XS_%dx%dAVX2", R, M)
	TEXT(name, NOSPLIT, "func(w *byte, ws int, x *byte, xs int, aux *byte, as int, nb int, out *float32, ldo int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes %d rows × %d tokens of IQ4_XS weights with Q8_K activations, as quant's reference dot product.", name, R, M))
	W := loadStrided(R, "w", "ws")
	X := loadStrided(M, "x", "xs")
	n := Load(Param("nb"), GP64())
	tbl = YMM()
	VMOVDQU(cIQ4NL, tbl)
	ls := AllocLocal(4 * 8 * R) // (ls − 32) as int32, [sub-block][row]
	width := 16 * (R / 4)
	var accReg VecVirtual
	var accMem Mem
	if M == 1 {
		accReg = YMM()
		if R == 4 {
			accReg = XMM()
		}
		VXORPS(accReg, accReg, accReg)
	} else {
		accMem = AllocLocal(width * M)
		z := YMM()
		VXORPS(z, z, z)
		for t := 0; t < M; t++ {
			if R == 8 {
				VMOVUPS(z, accMem.Offset(width*t))
			} else {
				VMOVUPS(z.AsX(), accMem.Offset(width*t))
			}
		}
	}
	k := &legacy{shift: -1}
	pf := newPrefetcher(W, R, 136)
	Label(name + "_loop")
	pf.next()
	for r := 0; r < R; r++ {
		sh, sl, v, h := GP32(), GP32(), GP32(), GP32()
		MOVWLZX(W.at(r, 2), sh)
		MOVL(W.at(r, 4), sl)
		for ib := 0; ib < 8; ib++ {
			MOVL(sl, v)
			if ib > 0 {
				SHRL(Imm(uint64(4*ib)), v)
			}
			ANDL(U32(0xf), v)
			MOVL(sh, h)
			if ib > 0 {
				SHRL(Imm(uint64(2*ib)), h)
			}
			ANDL(U32(3), h)
			SHLL(Imm(4), h)
			ORL(h, v)
			SUBL(U32(32), v)
			MOVL(v, ls.Offset(4*(ib*R+r)))
		}
	}
	dw := gatherF16(W, R, 0)
	// d4d8 per token: dw·yd.
	ddMem := AllocLocal(width * M)
	for t := 0; t < M; t++ {
		yd := YMM()
		if R == 4 {
			yd = XMM()
		}
		VBROADCASTSS(X.at(t, 0), yd)
		VMULPS(yd, dw, yd)
		VMOVUPS(yd, ddMem.Offset(width*t))
	}
	for ib := 0; ib < 8; ib++ {
		lsf := YMM()
		if R == 4 {
			lsf = XMM()
		}
		VCVTDQ2PS(ls.Offset(4*ib*R), lsf)
		finish := func(s VecVirtual, t int) {
			f := s
			VCVTDQ2PS(s, f)
			dl := YMM()
			if R == 4 {
				dl = XMM()
			}
			VMULPS(ddMem.Offset(width*t), lsf, dl)
			VMULPS(dl, f, f)
			if M == 1 {
				VADDPS(f, accReg, accReg)
			} else {
				VADDPS(accMem.Offset(width*t), f, f)
				VMOVUPS(f, accMem.Offset(width*t))
			}
		}
		load := func(r int) unpacked {
			w := nibbles(W.at(r, 8+16*ib))
			VPSHUFB(w, tbl, w)
			u := unpacked{w: w, abs: YMM()}
			VPABSB(w, u.abs)
			return u
		}
		yv := func(t int) Mem { return X.at(t, 4+32*ib) }
		pair := func(a int) []VecVirtual {
			u0, u1 := load(a), load(a+1)
			out := make([]VecVirtual, M)
			for t := 0; t < M; t++ {
				p0 := k.dot(u0, yv(t))
				p1 := k.dot(u1, yv(t))
				pairSum(p0, p1)
				out[t] = p0
			}
			return out
		}
		if R == 4 {
			s01 := pair(0)
			u2, u3 := load(2), load(3)
			for t := 0; t < M; t++ {
				p2 := k.dot(u2, yv(t))
				p3 := k.dot(u3, yv(t))
				pairSum(p2, p3)
				quadSum(s01[t], p2)
				x := XMM()
				VEXTRACTI128(Imm(1), s01[t], x)
				VPADDD(x, s01[t].AsX(), x)
				finish(x, t)
			}
		} else {
			q := make([]VecVirtual, 4)
			for i := range q {
				q[i] = pair(2 * i)[0]
			}
			quadSum(q[0], q[1])
			quadSum(q[2], q[3])
			g, h := YMM(), YMM()
			VPERM2I128(Imm(0x20), q[2], q[0], g)
			VPERM2I128(Imm(0x31), q[2], q[0], h)
			VPADDD(h, g, g)
			finish(g, 0)
		}
	}
	W.advance(136)
	X.advance(292)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))
	storeAcc(R, M, accReg, accMem, width)
	VZEROUPPER()
	RET()
}

func kKernels() {
	kquantConsts()
	quantActQ8_K()
	for _, k := range kquantKinds {
		for m := 1; m <= 4; m++ {
			kquantTile(k, 4, m)
		}
		kquantTile(k, 8, 1)
	}
	for m := 1; m <= 4; m++ {
		iq4xsTile(4, m)
	}
	iq4xsTile(8, 1)
}
