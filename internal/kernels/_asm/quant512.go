package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The AVX-512 (F, BW, VL, VNNI) quantized kernels. They compute exactly the
// reference's values, like the AVX2 ones (see quant.go): integer block sums
// in any order, the float part in the reference's order with one weight row
// per float lane. The 32-value types take 16 rows and two blocks per
// iteration: one 512-bit VPDPBUSD per row and token covers both blocks.
// The super-block types do a row's integer work in 512-bit registers and
// share the AVX2 kernels' reduction and float code (8 rows per tile).
// Instructions with only a VEX encoding cannot take X16–X31/Y16–Y31: the
// Go assembler rejects such a kernel, so a register-allocation change
// cannot go unnoticed.

// 512-bit constants, defined by quant512Consts.
var (
	zNib     Mem // 64 × 0x0f
	z80      Mem // 64 × 0x80
	z10      Mem // 64 × 0x10
	z01      Mem // 64 × 0x01
	z03      Mem // 64 × 0x03
	zShift04 Mem // qword shifts {0, 0, 4, 4, 0, 0, 4, 4}
	zShiftH  Mem // qword shifts {0, 0, 0, 0, 4, 4, 4, 4}
	zIQ4     Mem // kvalues_iq4nl in four lanes
	zK4Idx   Mem // 4 × 64 bytes: VPERMW indices [2c ×16, 2c+1 ×16]
	zK6Idx   Mem // 4 × 64 bytes: VPERMW indices [4k ×8, 4k+1 ×8, 4k+2 ×8, 4k+3 ×8]
	zW02     Mem // word shifts [0 ×16, 2 ×16]
	zQ5Shift Mem // 4 × 64 bytes: word shifts [2c ×16, 2c+1 ×16]
	zW46     Mem // word shifts [4 ×16, 6 ×16]
)

func words(vs ...int) []byte {
	var b []byte
	for _, v := range vs {
		b = append(b, byte(v), byte(v>>8))
	}
	return b
}

func repeatWords(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func quant512Consts() {
	zNib = bytesConst("z_nib", repeat(0x0f, 64))
	z80 = bytesConst("z_80", repeat(0x80, 64))
	z10 = bytesConst("z_10", repeat(0x10, 64))
	z01 = bytesConst("z_01", repeat(0x01, 64))
	z03 = bytesConst("z_03", repeat(0x03, 64))
	zShift04 = bytesConst("z_shift04", u64s(0, 0, 4, 4, 0, 0, 4, 4))
	zShiftH = bytesConst("z_shifth", u64s(0, 0, 0, 0, 4, 4, 4, 4))
	kv := []int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}
	var tbl []byte
	for l := 0; l < 4; l++ {
		for _, v := range kv {
			tbl = append(tbl, byte(v))
		}
	}
	zIQ4 = bytesConst("z_iq4nl", tbl)
	var k4 []byte
	for c := 0; c < 4; c++ {
		k4 = append(k4, words(append(repeatWords(2*c, 16), repeatWords(2*c+1, 16)...)...)...)
	}
	zK4Idx = bytesConst("z_k4idx", k4)
	var k6 []byte
	for k := 0; k < 4; k++ {
		var ws []int
		for i := 0; i < 4; i++ {
			ws = append(ws, repeatWords(4*k+i, 8)...)
		}
		k6 = append(k6, words(ws...)...)
	}
	zK6Idx = bytesConst("z_k6idx", k6)
	zW02 = bytesConst("z_w02", words(append(repeatWords(0, 16), repeatWords(2, 16)...)...))
	var q5 []byte
	for c := 0; c < 4; c++ {
		q5 = append(q5, words(append(repeatWords(2*c, 16), repeatWords(2*c+1, 16)...)...)...)
	}
	zQ5Shift = bytesConst("z_q5shift", q5)
	zW46 = bytesConst("z_w46", words(append(repeatWords(4, 16), repeatWords(6, 16)...)...))
}

// rows16 addresses 16 weight rows s bytes apart: four base pointers (rows
// 0, 4, 8, 12) with the indices s, 2s and 3s.
type rows16 struct {
	p     [4]Register
	s, s3 Register
}

func loadRows16(base, stride string) rows16 {
	var a rows16
	a.p[0] = Load(Param(base), GP64())
	a.s = Load(Param(stride), GP64())
	a.s3 = GP64()
	LEAQ(Mem{Base: a.s, Index: a.s, Scale: 2}, a.s3)
	for g := 1; g < 4; g++ {
		a.p[g] = GP64()
		LEAQ(Mem{Base: a.p[g-1], Index: a.s, Scale: 4}, a.p[g])
	}
	return a
}

func (a rows16) at(r, disp int) Mem {
	b := a.p[r/4]
	switch r % 4 {
	case 0:
		return Mem{Base: b, Disp: disp}
	case 1:
		return Mem{Base: b, Index: a.s, Scale: 1, Disp: disp}
	case 2:
		return Mem{Base: b, Index: a.s, Scale: 2, Disp: disp}
	default:
		return Mem{Base: b, Index: a.s3, Scale: 1, Disp: disp}
	}
}

func (a rows16) advance(n int) {
	for _, p := range a.p {
		ADDQ(U32(n), p)
	}
}

// gatherF16x16 loads the fp16 at byte disp of each of the 16 rows and
// returns them as 16 float32 lanes.
func gatherF16x16(w rows16, disp int) VecVirtual {
	x0, x1 := XMM(), XMM()
	for h := 0; h < 4; h++ {
		acc, t := GP64(), GP64()
		MOVWQZX(w.at(4*h, disp), acc)
		for r := 1; r < 4; r++ {
			MOVWQZX(w.at(4*h+r, disp), t)
			SHLQ(Imm(uint64(16*r)), t)
			ORQ(t, acc)
		}
		x := x0
		if h >= 2 {
			x = x1
		}
		if h%2 == 0 {
			VMOVQ(acc, x)
		} else {
			VPINSRQ(Imm(1), acc, x, x)
		}
	}
	y := YMM()
	VINSERTI32X4(Imm(1), x1, x0.AsY(), y)
	z := ZMM()
	VCVTPH2PS(y, z)
	return z
}

// pairSumZ and quadSumZ are pairSum and quadSum on 512-bit registers.
func pairSumZ(a, b VecVirtual) {
	t := ZMM()
	VPUNPCKLDQ(b, a, t)
	VPUNPCKHDQ(b, a, b)
	VPADDD(t, b, a)
}

func quadSumZ(s01, s23 VecVirtual) {
	t := ZMM()
	VPUNPCKLQDQ(s23, s01, t)
	VPUNPCKHQDQ(s23, s01, s23)
	VPADDD(t, s23, s01)
}

// legacy512 describes a 32-value type for the 16-row kernels.
type legacy512 struct {
	name  string
	bytes int
	// shift: the unpacked bytes are q + c (unsigned) for weights q − c…
	// the block sum is corrected by subtracting Σy << shift.
	shift      int
	scaleFirst bool
	// unpack returns the 64 unsigned weight bytes of the blocks at b and
	// b + bytes: element j of the first in byte j, of the second in byte
	// 32 + j.
	unpack func(k *legacy512, b Mem) VecVirtual
	// nibbles: the quants are 16 bytes of nibble pairs after a 2-byte
	// scale, which the batch kernels transpose packed (transposedNibbles).
	nibbles bool
}

// newPrefetcher16 streams the 16 rows after W's current ones (which follow
// them in memory) into the cache as a 16-row tile goes: per iteration
// (two blocks) the next 32 blocks' bytes.
func newPrefetcher16(W rows16, blockBytes int) prefetcher {
	p := GP64()
	LEAQ(Mem{Base: W.p[3], Index: W.s, Scale: 4}, p)
	return prefetcher{p: p, step: 16 * 2 * blockBytes}
}

var zTbl VecVirtual // IQ4_NL's table, loaded once per kernel

// nibbles2 returns the nibbles of two blocks whose 16 quant bytes are at
// a and b.
func nibbles2(a, b Mem) VecVirtual {
	z := ZMM()
	VBROADCASTI32X4(a, z)
	y := YMM()
	VBROADCASTI32X4(b, y)
	VINSERTI64X4(Imm(1), y, z, z)
	VPSRLVQ(hc(zShift04), z, z)
	VPANDD(hc(zNib), z, z)
	return z
}

var legacy512Kinds = []*legacy512{
	{name: "Q4_0", bytes: 18, shift: 3, scaleFirst: true, nibbles: true, unpack: func(k *legacy512, b Mem) VecVirtual {
		return nibbles2(b.Offset(2), b.Offset(k.bytes+2))
	}},
	{name: "Q5_0", bytes: 22, shift: 4, unpack: func(k *legacy512, b Mem) VecVirtual {
		z := nibbles2(b.Offset(6), b.Offset(k.bytes+6))
		lo, hi := GP64(), GP64()
		MOVL(b.Offset(2), lo.As32())
		MOVL(b.Offset(k.bytes+2), hi.As32())
		SHLQ(Imm(32), hi)
		ORQ(hi, lo)
		m := K()
		KMOVQ(lo, m)
		h := ZMM()
		VPMOVM2B(m, h)
		VPTERNLOGD(Imm(0xf8), z10, h, z) // z | (h & 0x10)
		return z
	}},
	{name: "Q8_0", bytes: 34, shift: 7, unpack: func(k *legacy512, b Mem) VecVirtual {
		y := YMM()
		VMOVDQU64(b.Offset(2), y)
		z := ZMM()
		VINSERTI64X4(Imm(1), b.Offset(k.bytes+2), y.AsZ(), z)
		VPXORD(z80, z, z)
		return z
	}},
	{name: "IQ4_NL", bytes: 18, shift: 7, nibbles: true, unpack: func(k *legacy512, b Mem) VecVirtual {
		z := nibbles2(b.Offset(2), b.Offset(k.bytes+2))
		VPSHUFB(z, zTbl, z)
		VPXORD(z80, z, z)
		return z
	}},
}

// legacy512Tile generates tile<K>_16x<M>AVX512: 16 weight rows (ws bytes
// apart) × M tokens, nb blocks (even). aux points to token 0's aux row (as
// bytes between tokens): per block float32 d and int32 Σq, then the
// quants back to back (x and xs are not used).
func legacy512Tile(k *legacy512, M int) {
	name := fmt.Sprintf("tile%s_16x%dAVX512", k.name, M)
	TEXT(name, NOSPLIT, "func(w *byte, ws int, x *byte, xs int, aux *byte, as int, nb int, out *float32, ldo int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes 16 rows × %d tokens of %s weights with Q8_0 activations over an even number of blocks, as quant's reference dot product.", name, M, k.name))
	W := loadRows16("w", "ws")
	A := loadStrided(M, "aux", "as")
	n := Load(Param("nb"), GP64())
	X := strided{n: M, p: GP64(), s: A.s, s3: A.s3}
	LEAQ(Mem{Base: A.p, Index: n, Scale: 8}, X.p)
	SHRQ(Imm(1), n)
	if k.name == "IQ4_NL" {
		zTbl = ZMM()
		VMOVDQU64(zIQ4, zTbl)
	}
	// The nibble shifts and mask in registers (see hoist).
	hoist(zShift04, zNib)
	defer unhoist()
	pf := newPrefetcher16(W, k.bytes)
	// zero is copied into each accumulator: avo would take a register
	// zeroed by xoring itself as live since the function's entry.
	zero := ZMM()
	VPXORD(zero, zero, zero)
	var accReg VecVirtual
	var accMem Mem
	if M == 1 {
		accReg = ZMM()
		VPXORD(accReg, accReg, accReg)
	} else {
		accMem = AllocLocal(64 * M)
		z := ZMM()
		VPXORD(z, z, z)
		for t := 0; t < M; t++ {
			VMOVDQU64(z, accMem.Offset(64*t))
		}
	}
	Label(name + "_loop")
	pf.next()
	dw := [2]VecVirtual{gatherF16x16(W, 0), gatherF16x16(W, k.bytes)}
	finish := func(s VecVirtual, t, blk int) {
		c := ZMM()
		VPBROADCASTD(A.at(t, 8*blk+4), c)
		VPSLLD(Imm(uint64(k.shift)), c, c)
		VPSUBD(c, s, s)
		VCVTDQ2PS(s, s)
		dx := ZMM()
		VBROADCASTSS(A.at(t, 8*blk), dx)
		if k.scaleFirst {
			VMULPS(dw[blk], s, s)
			VMULPS(dx, s, s)
		} else {
			VMULPS(dw[blk], dx, dx)
			VMULPS(dx, s, s)
		}
		if M == 1 {
			VADDPS(s, accReg, accReg)
		} else {
			VADDPS(accMem.Offset(64*t), s, s)
			VMOVUPS(s, accMem.Offset(64*t))
		}
	}
	var ws [16]VecVirtual
	if M > 1 {
		for r := range ws {
			ws[r] = k.unpack(k, W.at(r, 0))
		}
	}
	for t := 0; t < M; t++ {
		var e [4]VecVirtual
		for q := 0; q < 4; q++ {
			var d [4]VecVirtual
			for i := range d {
				r := 4*q + i
				w := ws[r]
				if M == 1 {
					w = k.unpack(k, W.at(r, 0))
				}
				d[i] = ZMM()
				VMOVDQA64(zero, d[i])
				VPDPBUSD(X.at(t, 0), w, d[i])
			}
			pairSumZ(d[0], d[1])
			pairSumZ(d[2], d[3])
			quadSumZ(d[0], d[2])
			e[q] = d[0]
		}
		// e[q] lane i (128 bits) holds rows 4q..4q+3 summed over the
		// dword lanes 4i..4i+3: lanes 0, 1 block b, lanes 2, 3 block b+1.
		s01, s23, g := ZMM(), ZMM(), ZMM()
		VSHUFI64X2(Imm(0x88), e[1], e[0], s01) // [e0.0, e0.2, e1.0, e1.2]
		VSHUFI64X2(Imm(0xdd), e[1], e[0], g)   // [e0.1, e0.3, e1.1, e1.3]
		VPADDD(g, s01, s01)
		VSHUFI64X2(Imm(0x88), e[3], e[2], s23)
		VSHUFI64X2(Imm(0xdd), e[3], e[2], g)
		VPADDD(g, s23, s23)
		fb, fb1 := ZMM(), ZMM()
		VSHUFI64X2(Imm(0x88), s23, s01, fb)
		VSHUFI64X2(Imm(0xdd), s23, s01, fb1)
		finish(fb, t, 0)
		finish(fb1, t, 1)
	}
	W.advance(2 * k.bytes)
	X.advance(64)
	A.advance(16)
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
		} else {
			v := ZMM()
			VMOVUPS(accMem.Offset(64*t), v)
			VMOVUPS(v, Mem{Base: o})
		}
	}
	VZEROUPPER()
	RET()
}

// ---- Super-block types: 512-bit row work for kquantTile.

// q45kRow512 is the row work of Q4_K (qh false) and Q5_K in 512-bit
// registers: per 64 values one VPMADDUBSW and one VPDPWSSD per token.
func q45kRow512(qh bool) func(b Mem, M int, y func(t, disp int) Mem, bs func(t int) Mem) ([]VecVirtual, []VecVirtual) {
	return func(b Mem, M int, y func(t, disp int) Mem, bs func(t int) Mem) ([]VecVirtual, []VecVirtual) {
		sc, mn := q4kScales(b) // sc: [sc0..7 | sc0..7] int16 (YMM)
		summs := make([]VecVirtual, M)
		for t := 0; t < M; t++ {
			summs[t] = XMM()
			VPMADDWD(bs(t), mn, summs[t])
		}
		qsOff := 16
		var h VecVirtual
		if qh {
			qsOff = 48
			h = ZMM()
			VBROADCASTI64X4(b.Offset(16), h)
		}
		acc := make([]VecVirtual, M)
		for t := range acc {
			acc[t] = ZMM()
			VMOVDQA64(zero512, acc[t])
		}
		for c := 0; c < 4; c++ {
			w := ZMM()
			VBROADCASTI64X4(b.Offset(qsOff+32*c), w)
			VPSRLVQ(hc(zShiftH), w, w)
			VPANDD(hc(zNib), w, w)
			if qh {
				// bit 2c of qh → 0x10 for the low nibbles, bit 2c+1 for the high.
				hb := ZMM()
				VPSRLVW(zQ5Shift.Offset(64*c), h, hb)
				VPANDD(z01, hb, hb)
				VPSLLW(Imm(4), hb, hb)
				VPORD(hb, w, w)
			}
			s := ZMM()
			VPERMW(sc.AsZ(), hreg(zK4Idx.Offset(64*c)), s)
			for t := 0; t < M; t++ {
				p := ZMM()
				VPMADDUBSW(yOp(y, t, 4+64*c), w, p)
				VPDPWSSD(s, p, acc[t])
			}
		}
		isum := make([]VecVirtual, M)
		for t := range acc {
			hy := YMM()
			VEXTRACTI64X4(Imm(1), acc[t], hy)
			VPADDD(acc[t].AsY(), hy, hy)
			isum[t] = hy
		}
		return isum, summs
	}
}

// q6kRow512 is the row work of Q6_K in 512-bit registers.
func q6kRow512(b Mem, M int, y func(t, disp int) Mem, _ func(t int) Mem) ([]VecVirtual, []VecVirtual) {
	sc16 := YMM()
	VPMOVSXBW(b.Offset(192), sc16)
	acc := make([]VecVirtual, M)
	for t := range acc {
		acc[t] = ZMM()
		VMOVDQA64(zero512, acc[t])
	}
	for c := 0; c < 2; c++ {
		l, h := ZMM(), ZMM()
		VMOVDQU64(b.Offset(64*c), l)
		VBROADCASTI64X4(b.Offset(128+32*c), h)
		for half := 0; half < 2; half++ {
			w, hb := ZMM(), ZMM()
			if half == 0 {
				VPANDD(hc(zNib), l, w)
				VPSRLVW(hc(zW02), h, hb)
			} else {
				VPSRLW(Imm(4), l, w)
				VPANDD(hc(zNib), w, w)
				VPSRLVW(hc(zW46), h, hb)
			}
			VPANDD(hc(z03), hb, hb)
			VPSLLW(Imm(4), hb, hb)
			VPORD(hb, w, w)
			s := ZMM()
			VPERMW(sc16.AsZ(), hreg(zK6Idx.Offset(64*(2*c+half))), s)
			for t := 0; t < M; t++ {
				p := ZMM()
				VPMADDUBSW(yOp(y, t, 4+128*c+64*half), w, p)
				VPDPWSSD(s, p, acc[t])
			}
		}
	}
	isum := make([]VecVirtual, M)
	for t := range acc {
		hy := YMM()
		VEXTRACTI64X4(Imm(1), acc[t], hy)
		VPADDD(acc[t].AsY(), hy, hy)
		corr := YMM()
		VPMADDWD(y(t, 260), sc16, corr)
		VPSLLD(Imm(5), corr, corr)
		VPSUBD(corr, hy, hy)
		isum[t] = hy
	}
	return isum, nil
}

// zero512 is a zeroed register for the super-block row work, set by
// kquantTileSuffix's prologue hook.
var zero512 VecVirtual

// hoisted holds the 512-bit constants a super-block kernel loaded into
// registers before its loop (hoist), by constant; hc returns a constant's
// register when it was hoisted, else the constant in memory. yPre holds
// the one token's activation vectors a one-token kernel loaded once per
// super-block (by byte offset); yOp returns one when loaded.
var (
	hoisted = map[string]VecVirtual{}
	yPre    = map[int]VecVirtual{}
)

func memKey(m Mem) string { return fmt.Sprintf("%v+%d", m.Symbol, m.Disp) }

// hreg returns the register holding constant m: its hoisted register, or
// a new one loaded now.
func hreg(m Mem) VecVirtual {
	if r, ok := hoisted[memKey(m)]; ok {
		return r
	}
	r := ZMM()
	VMOVDQU64(m, r)
	return r
}

func hc(m Mem) Op {
	if r, ok := hoisted[memKey(m)]; ok {
		return r
	}
	return m
}

// hoist loads the constants ms into registers for the kernel being
// generated (until unhoist).
func hoist(ms ...Mem) {
	for _, m := range ms {
		r := ZMM()
		VMOVDQU64(m, r)
		hoisted[memKey(m)] = r
	}
}

func unhoist() {
	clear(hoisted)
	clear(yPre)
}

// preloadY loads the activation vectors at byte offsets disps of a
// one-token kernel's current super-block.
func preloadY(y func(t, disp int) Mem, disps ...int) {
	for _, d := range disps {
		r := ZMM()
		VMOVDQU64(y(0, d), r)
		yPre[d] = r
	}
}

func yOp(y func(t, disp int) Mem, t, disp int) Op {
	if t == 0 {
		if r, ok := yPre[disp]; ok {
			return r
		}
	}
	return y(t, disp)
}

var kquant512Kinds = []*kquant{
	{name: "Q4_K", bytes: 144, mins: true, pairs: true, dOff: 0, row: q45kRow512(false)},
	{name: "Q5_K", bytes: 176, mins: true, pairs: true, dOff: 0, row: q45kRow512(true)},
	{name: "Q6_K", bytes: 210, dOff: 208, row: q6kRow512},
}

func quant512Kernels() {
	quantConsts()
	kquantConsts()
	quant512Consts()
	for _, k := range legacy512Kinds {
		for m := 1; m <= 3; m++ {
			legacy512Tile(k, m)
		}
		legacy512TileT(k, 4)
		legacy512TileT(k, 8)
	}
	for _, k := range kquant512Kinds {
		for _, m := range []int{1, 2, 3, 4, 8} {
			kquantTileSuffix(k, 8, m, "AVX512")
		}
		kquantTileSuffix(k, 4, 1, "AVX512")
	}
}

// transpose16 transposes 16 rows of 16 dwords in place: afterwards a[j]
// lane r holds what a[r] lane j held. Four shuffle stages of 16.
func transpose16(a []VecVirtual) {
	t := make([]VecVirtual, 16)
	// Stage 1: dwords of row pairs.
	for i := 0; i < 16; i += 2 {
		t[i], t[i+1] = ZMM(), ZMM()
		VPUNPCKLDQ(a[i+1], a[i], t[i])
		VPUNPCKHDQ(a[i+1], a[i], t[i+1])
	}
	// Stage 2: qwords of row quads. u[4q+e] lane L = rows 4q..4q+3 of dword 4L+e.
	u := make([]VecVirtual, 16)
	for q := 0; q < 4; q++ {
		b := 4 * q
		u[b], u[b+1], u[b+2], u[b+3] = a[b], a[b+1], a[b+2], a[b+3]
		VPUNPCKLQDQ(t[b+2], t[b], u[b])
		VPUNPCKHQDQ(t[b+2], t[b], u[b+1])
		VPUNPCKLQDQ(t[b+3], t[b+1], u[b+2])
		VPUNPCKHQDQ(t[b+3], t[b+1], u[b+3])
	}
	// Stages 3 and 4: 4×4 transpose of 128-bit lanes across the quads.
	for e := 0; e < 4; e++ {
		x := [4]VecVirtual{ZMM(), ZMM(), ZMM(), ZMM()}
		VSHUFI32X4(Imm(0x44), u[4+e], u[e], x[0])    // [q0.L0, q0.L1, q1.L0, q1.L1]
		VSHUFI32X4(Imm(0xee), u[4+e], u[e], x[1])    // [q0.L2, q0.L3, q1.L2, q1.L3]
		VSHUFI32X4(Imm(0x44), u[12+e], u[8+e], x[2]) // q2, q3
		VSHUFI32X4(Imm(0xee), u[12+e], u[8+e], x[3])
		VSHUFI32X4(Imm(0x88), x[2], x[0], a[e])    // L0: dword e
		VSHUFI32X4(Imm(0xdd), x[2], x[0], a[4+e])  // L1: dword 4+e
		VSHUFI32X4(Imm(0x88), x[3], x[1], a[8+e])  // L2: dword 8+e
		VSHUFI32X4(Imm(0xdd), x[3], x[1], a[12+e]) // L3: dword 12+e
	}
}

// transposedNibbles returns the unpacked weights of block blk of the 16
// rows' current two blocks of a 4-bit type whose 16 quant bytes follow a
// 2-byte scale (Q4_0, IQ4_NL), transposed as transpose16 would leave them:
// v[j] lane r holds row r's quants 4j..4j+3. The packed bytes are
// transposed before they are unpacked, a quarter of transpose16's work:
// four registers take the rows' quant bytes a 128-bit lane each (register
// g, lane i: row 4i+g), and a 4×4 dword transpose within the lanes leaves
// in u[j] position 4i+g row 4i+g's packed dword j, whose low nibbles are
// quants 4j..4j+3 and high nibbles quants 16+4j..16+4j+3.
func transposedNibbles(k *legacy512, W rows16, blk int) []VecVirtual {
	off := blk*k.bytes + 2
	var z [4]VecVirtual
	for g := range z {
		z[g] = ZMM()
		VMOVDQU32(W.at(g, off), z[g].AsX())
		for i := 1; i < 4; i++ {
			VINSERTI32X4(Imm(uint64(i)), W.at(4*i+g, off), z[g], z[g])
		}
	}
	t := [4]VecVirtual{ZMM(), ZMM(), ZMM(), ZMM()}
	VPUNPCKLDQ(z[1], z[0], t[0])
	VPUNPCKHDQ(z[1], z[0], t[1])
	VPUNPCKLDQ(z[3], z[2], t[2])
	VPUNPCKHDQ(z[3], z[2], t[3])
	u := z
	VPUNPCKLQDQ(t[2], t[0], u[0])
	VPUNPCKHQDQ(t[2], t[0], u[1])
	VPUNPCKLQDQ(t[3], t[1], u[2])
	VPUNPCKHQDQ(t[3], t[1], u[3])
	v := make([]VecVirtual, 8)
	for j, p := range u {
		lo, hi := ZMM(), ZMM()
		VPANDD(hc(zNib), p, lo)
		VPSRLW(Imm(4), p, hi)
		VPANDD(hc(zNib), hi, hi)
		v[j], v[4+j] = lo, hi
	}
	if k.name == "IQ4_NL" {
		for _, z := range v {
			VPSHUFB(z, zTbl, z)
			VPXORD(z80, z, z)
		}
	}
	return v
}

// legacy512TileT generates tile<K>_16x<M>tAVX512, the batch kernel: per
// two blocks the 16 rows' unpacked weights are transposed once (lane r of
// vector j holds row r's quants 4j..4j+3), so that every token's block sums
// come out with one row per lane from VPDPBUSD against broadcast activation
// dwords: no reduction per token. Same arguments as legacy512Tile.
func legacy512TileT(k *legacy512, M int) {
	name := fmt.Sprintf("tile%s_16x%dtAVX512", k.name, M)
	TEXT(name, 0, "func(w *byte, ws int, x *byte, xs int, aux *byte, as int, nb int, out *float32, ldo int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes 16 rows × %d tokens of %s weights with Q8_0 activations over an even number of blocks (transposed weights, broadcast activations), as quant's reference dot product.", name, M, k.name))
	W := loadRows16("w", "ws")
	A := loadStrided(M, "aux", "as")
	n := Load(Param("nb"), GP64())
	X := strided{n: M, p: GP64(), s: A.s, s3: A.s3}
	LEAQ(Mem{Base: A.p, Index: n, Scale: 8}, X.p)
	if M > 5 {
		X.q = GP64()
		LEAQ(Mem{Base: X.p, Index: A.s, Scale: 4}, X.q)
		ADDQ(A.s, X.q)
	}
	SHRQ(Imm(1), n)
	if k.name == "IQ4_NL" {
		zTbl = ZMM()
		VMOVDQU64(zIQ4, zTbl)
	}
	if M <= 4 {
		if k.nibbles {
			hoist(zNib)
		} else {
			hoist(zShift04, zNib)
		}
		defer unhoist()
	}
	zero := ZMM()
	VPXORD(zero, zero, zero)
	// With the nibble unpacking, up to four tokens' sums stay in
	// registers (transpose16 leaves no room for them); otherwise in memory.
	var accReg []VecVirtual
	var accMem Mem
	if k.nibbles && M <= 4 {
		for range M {
			z := ZMM()
			VMOVDQA64(zero, z)
			accReg = append(accReg, z)
		}
	} else {
		accMem = AllocLocal(64 * M)
		for t := 0; t < M; t++ {
			VMOVDQU64(zero, accMem.Offset(64*t))
		}
	}
	// As legacy512Tile, the next 16 rows are prefetched as this tile
	// goes, a block pair's worth per iteration (up to four tokens: eight
	// leave no general register for it).
	var pf *prefetcher
	if M <= 4 {
		p := newPrefetcher16(W, k.bytes)
		pf = &p
	}
	Label(name + "_loop")
	if pf != nil {
		pf.next()
	}
	// tokens adds every token's sums of block blk (v[j]: its transposed
	// quants 4j..4j+3; dw: its 16 scales) to its accumulator.
	tokens := func(blk int, v []VecVirtual, dw VecVirtual) {
		for t := 0; t < M; t++ {
			// The sums start at −(Σy << shift), the offset correction.
			s := ZMM()
			VPSLLD_BCST(Imm(uint64(k.shift)), A.at(t, 8*blk+4), s)
			VPSUBD(s, zero, s)
			for j := 0; j < 8; j++ {
				VPDPBUSD_BCST(X.at(t, 32*blk+4*j), v[j], s)
			}
			VCVTDQ2PS(s, s)
			if k.scaleFirst {
				VMULPS(dw, s, s)
				VMULPS_BCST(A.at(t, 8*blk), s, s)
			} else {
				dd := ZMM()
				VMULPS_BCST(A.at(t, 8*blk), dw, dd)
				VMULPS(dd, s, s)
			}
			if accReg != nil {
				VADDPS(s, accReg[t], accReg[t])
			} else {
				VADDPS(accMem.Offset(64*t), s, s)
				VMOVUPS(s, accMem.Offset(64*t))
			}
		}
	}
	if k.nibbles {
		// One block at a time: eight registers of quants live, not 16.
		for blk := 0; blk < 2; blk++ {
			v := transposedNibbles(k, W, blk)
			tokens(blk, v, gatherF16x16(W, blk*k.bytes))
		}
	} else {
		v := make([]VecVirtual, 16)
		for r := range v {
			v[r] = k.unpack(k, W.at(r, 0))
		}
		transpose16(v)
		dw := [2]VecVirtual{gatherF16x16(W, 0), gatherF16x16(W, k.bytes)}
		for blk := 0; blk < 2; blk++ {
			tokens(blk, v[8*blk:8*blk+8], dw[blk])
		}
	}
	W.advance(2 * k.bytes)
	X.advance(64)
	A.advance(16)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))

	o := Load(Param("out"), GP64())
	ldo := Load(Param("ldo"), GP64())
	SHLQ(Imm(2), ldo)
	for t := 0; t < M; t++ {
		if t > 0 {
			ADDQ(ldo, o)
		}
		if accReg != nil {
			VMOVUPS(accReg[t], Mem{Base: o})
			continue
		}
		r := ZMM()
		VMOVUPS(accMem.Offset(64*t), r)
		VMOVUPS(r, Mem{Base: o})
	}
	VZEROUPPER()
	RET()
}
