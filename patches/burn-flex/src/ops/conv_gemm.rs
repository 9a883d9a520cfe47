//! [gan-workbench patch, see patches/burn-flex/README.md] 2-D convolution forward and weight
//! gradients (of `conv2d` and `conv_transpose2d`) as im2col + GEMM.
//!
//! Weight gradients. Upstream has no flex-specific backward passes: burn-backend's defaults
//! (`conv2d_weight_grad_no_groups`, `conv_transpose2d_weight_grad_no_groups`) swap batch and
//! channels of the input and of the output gradient and run a forward `conv2d` whose "kernel" is
//! the output gradient (64 batch channels x 14x14, say) and whose output is the tiny kernel
//! (4x4), after two strided copies. Here the same sums are GEMMs whose reduction runs over batch
//! and positions together:
//!
//! - conv2d:           dW[co, (ci, ky, kx)] = sum_(n, p) G[n, co, p] * col(X_n)[(ci, ky, kx), p]
//! - conv_transpose2d: dW[ci, (co, ky, kx)] = sum_(n, p) X[n, ci, p] * col(G_n)[(co, ky, kx), p]
//!
//! where col() is the im2col of the forward convolution's geometry (for the transposed
//! convolution, the conv from its output back to its input positions). The batch is packed in
//! chunks whose size depends on the shapes only (never on the thread count), accumulated in
//! batch order, so the result does not depend on the machine's parallelism.
//!
//! Forward conv2d (groups = 1). Upstream's generic path converts the whole input to NHWC and
//! builds im2col tiles from it; here each batch element's im2col is built from NCHW rows directly
//! (a row copy when the stride is 1) and multiplied by the weight in one GEMM, batch elements in
//! parallel, each output element written by one GEMM as in upstream.

use alloc::vec;
use alloc::vec::Vec;
use burn_backend::DType;
use burn_backend::ops::conv::calculate_conv_output_size;
use burn_backend::ops::{ConvOptions, ConvTransposeOptions};
use burn_std::{Bytes, Shape};

use crate::{FlexTensor, Layout};

/// One 2-D convolution of a `[channels, in_h, in_w]` plane stack at `out_h x out_w` positions,
/// seen as im2col: `col[(c, ky, kx), (oy, ox)] = input[c, oy*s + ky*d - p, ox*s + kx*d - p]`
/// (0 outside the input).
///
/// The im2col is built from a zero-padded copy of the input ([`Im2col::pad`]) whose rows are
/// split into `stride_w` phases (padded column `j * stride_w + f` stored at `f * phase_w + j`):
/// then every run of an im2col row (one kernel tap, one output row, all `out_w` columns) is a
/// contiguous slice of the copy, with no bounds tests and no strided gathers. Building the rows
/// straight from the input (per-run bounds, zero borders and, at stride 2, element-by-element
/// gathers) took about 15% of a 32x32 DCGAN training step; the padded copy is a fraction of
/// the im2col's size (the im2col repeats each value about k_h k_w / (s_h s_w) times).
#[derive(Clone, Debug)]
struct Im2col {
    channels: usize,
    in_h: usize,
    in_w: usize,
    k_h: usize,
    k_w: usize,
    out_h: usize,
    out_w: usize,
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    /// Rows of the padded copy (in_h + 2 p_h, or what the last output row reads if more).
    pad_h: usize,
    /// Length of one phase of a padded row (ceil(padded width / s_w)).
    phase_w: usize,
    /// Where the input columns go in a padded row ([`phase_starts`]).
    pad_phases: Vec<(usize, usize)>,
    /// The kernel covers the input exactly once (one output position, no padding, no
    /// dilation): the im2col is the input itself.
    is_identity: bool,
}

impl Im2col {
    #[allow(clippy::too_many_arguments)]
    fn new(
        channels: usize,
        [in_h, in_w]: [usize; 2],
        [k_h, k_w]: [usize; 2],
        [out_h, out_w]: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
    ) -> Self {
        // The padded copy holds the input and every position an output reads.
        let extent = |a: usize, size: usize, k: usize, out: usize| padded_extent(size, padding[a], out, k, stride[a], dilation[a]);
        let phase_w = extent(1, in_w, k_w, out_w).div_ceil(stride[1]);
        Im2col {
            channels,
            in_h,
            in_w,
            k_h,
            k_w,
            out_h,
            out_w,
            stride,
            padding,
            dilation,
            pad_h: extent(0, in_h, k_h, out_h),
            phase_w,
            pad_phases: phase_starts(stride[1], padding[1], in_w, phase_w),
            is_identity: out_h == 1
                && out_w == 1
                && padding == [0, 0]
                && dilation == [1, 1]
                && [k_h, k_w] == [in_h, in_w],
        }
    }

    fn rows(&self) -> usize {
        self.channels * self.k_h * self.k_w
    }

    fn cols(&self) -> usize {
        self.out_h * self.out_w
    }

    /// Values of one padded row (all its phases).
    fn pad_row(&self) -> usize {
        self.stride[1] * self.phase_w
    }

    /// Values of the padded copy of one `[channels, in_h, in_w]` stack.
    fn padded_len(&self) -> usize {
        self.channels * self.pad_h * self.pad_row()
    }

    /// The padded, phase-split copy of `input` into `buf` (`padded_len()` values). Only the
    /// positions of input values are written: `buf` must hold zeros elsewhere (it can be
    /// reused for another input of the same geometry without clearing).
    fn pad<T: Copy>(&self, input: &[T], buf: &mut [T]) {
        let (row, sx) = (self.pad_row(), self.stride[1]);
        let [p_h, p_w] = self.padding;
        let plane = self.pad_h * row;
        for c in 0..self.channels {
            let src_plane = &input[c * self.in_h * self.in_w..][..self.in_h * self.in_w];
            for (iy, src) in src_plane.chunks_exact(self.in_w).enumerate() {
                let dst = &mut buf[c * plane + (iy + p_h) * row..][..row];
                if sx == 1 {
                    dst[p_w..p_w + self.in_w].copy_from_slice(src);
                } else {
                    for &(ix0, at) in &self.pad_phases {
                        for (o, &v) in dst[at..].iter_mut().zip(src[ix0..].iter().step_by(sx)) {
                            *o = v;
                        }
                    }
                }
            }
        }
    }

    /// Whether the padded copy would equal the input (no padding, stride 1 across, no extra
    /// rows): then the im2col reads the input itself.
    fn needs_copy(&self) -> bool {
        !(self.is_identity
            || (self.padding == [0, 0] && self.stride[1] == 1 && self.pad_h == self.in_h && self.phase_w == self.in_w))
    }

    /// What [`Im2col::fill_row`] reads for `input`: the input itself where no copy is needed,
    /// else its padded copy in `buf` (see [`Im2col::pad`]).
    fn source<'a, T: Copy>(&self, input: &'a [T], buf: &'a mut [T]) -> &'a [T] {
        if self.needs_copy() {
            self.pad(input, buf);
            buf
        } else {
            input
        }
    }

    /// Row `r = (c, ky, kx)` of the im2col into `dst` (`cols()` values), read from `src` as
    /// [`Im2col::source`] returns it.
    #[inline]
    fn fill_row<T: Copy>(&self, r: usize, src: &[T], dst: &mut [T]) {
        if self.is_identity {
            dst[0] = src[r];
            return;
        }
        let kx = r % self.k_w;
        let ky = (r / self.k_w) % self.k_h;
        let c = r / (self.k_w * self.k_h);
        let (row, sx) = (self.pad_row(), self.stride[1]);
        let base = (c * self.pad_h + ky * self.dilation[0]) * row + phase_index(kx * self.dilation[1], sx, self.phase_w);
        let step = self.stride[0] * row;
        // Fixed-length copies for the common widths: the compiler inlines them as vector
        // moves, where a copy of run-time length is a call to memcpy per run.
        match self.out_w {
            4 => copy_runs::<T, 4>(&src[base..], step, dst),
            7 => copy_runs::<T, 7>(&src[base..], step, dst),
            8 => copy_runs::<T, 8>(&src[base..], step, dst),
            14 => copy_runs::<T, 14>(&src[base..], step, dst),
            16 => copy_runs::<T, 16>(&src[base..], step, dst),
            32 => copy_runs::<T, 32>(&src[base..], step, dst),
            w => {
                for (oy, d) in dst.chunks_exact_mut(w).enumerate() {
                    d.copy_from_slice(&src[base + oy * step..][..w]);
                }
            }
        }
    }

    /// The whole im2col, `rows() x cols()` row-major, from `src` as [`Im2col::source`] returns it.
    fn fill<T: Copy>(&self, src: &[T], col: &mut [T]) {
        if self.is_identity {
            col.copy_from_slice(&src[..col.len()]);
            return;
        }
        let cols = self.cols();
        for (r, dst) in col.chunks_mut(cols).enumerate() {
            self.fill_row(r, src, dst);
        }
    }
}

/// The length along one axis of a zero-padded buffer that holds `size` values with `padding`
/// on both sides and every position that `count` positions at `stride` reach through a kernel
/// of `k` taps at `dilation` (the im2col's reads of its input; the col2im's writes from its).
pub(super) fn padded_extent(size: usize, padding: usize, count: usize, k: usize, stride: usize, dilation: usize) -> usize {
    let reach = if count == 0 || k == 0 { 0 } else { (count - 1) * stride + (k - 1) * dilation + 1 };
    (size + 2 * padding).max(reach)
}

/// Where padded column `col` of a row split into `stride` phases of `phase_w` values is stored.
pub(super) fn phase_index(col: usize, stride: usize, phase_w: usize) -> usize {
    (col % stride) * phase_w + col / stride
}

/// The columns `0..len` of a row padded by `padding` on the left and split into `stride`
/// phases of `phase_w` values (padded column `j * stride + f` at `f * phase_w + j`): per
/// non-empty phase, its first column and that column's place in the padded row. The phase
/// holds every `stride`-th column from there on, in order (the divisions stay out of the loops).
pub(super) fn phase_starts(stride: usize, padding: usize, len: usize, phase_w: usize) -> Vec<(usize, usize)> {
    (0..stride)
        .map(|f| (f + stride - padding % stride) % stride)
        .filter(|&x0| x0 < len)
        .map(|x0| (x0, phase_index(x0 + padding, stride, phase_w)))
        .collect()
}

/// `dst` is `W`-value runs; run `i` is `src[i * step..][..W]`.
#[inline(always)]
fn copy_runs<T: Copy, const W: usize>(src: &[T], step: usize, dst: &mut [T]) {
    for (oy, d) in dst.chunks_exact_mut(W).enumerate() {
        let s: &[T; W] = src[oy * step..][..W].try_into().unwrap();
        let d: &mut [T; W] = d.try_into().unwrap();
        *d = *s;
    }
}

/// A vector of `len` values left unwritten, for buffers that are written in full before any
/// read (im2col and packed operands, GEMM outputs with `read_dst = false`): zeroing them first
/// was a few percent of a DCGAN step. As upstream's `uninit_vec` in `mask.rs`.
pub(super) fn uninit_vec<T: Copy>(len: usize) -> Vec<T> {
    let mut v = Vec::with_capacity(len);
    #[allow(clippy::uninit_vec)]
    // SAFETY: callers write every element before reading it (see above); T is plain data.
    unsafe {
        v.set_len(len);
    }
    v
}

/// Values packed per GEMM (each of the two operands) at most: a few MB, so that packing a whole
/// batch of a large layer does not allocate hundreds of MB.
const PACK_LIMIT: usize = 1 << 21;

/// `dW[(g, l), r] = sum_(n, q) A[n, (g, l), q] * col(B_n, g)[r, q]` for every group `g`:
/// `a` is `[batch, groups * a_rows, a_cols]`, `b` is `[batch, groups * geom.channels, ...]`,
/// `geom.cols() == a_cols`. Returns `[groups * a_rows, geom.rows()]`, row-major.
///
/// Per chunk of the batch, both operands are packed with the batch and positions as one
/// reduction axis `k = (n, q)` (`A'[l, k]`, `col'[r, k]`), and one GEMM adds `A' col'^T` to dW:
/// the reduction is long (batch x positions) even where a layer has few positions (a 1x1 input:
/// one per image), and dW is read and written once per chunk, not once per image.
#[allow(clippy::too_many_arguments)]
fn batched_weight_grad<T>(
    a: &[T],
    a_rows: usize,
    b: &[T],
    geom: &Im2col,
    groups: usize,
    batch: usize,
    zero: T,
    one: T,
) -> Vec<T>
where
    T: Copy + Send + Sync + 'static,
{
    let rows = geom.rows();
    let p = geom.cols();
    let out_len = groups * a_rows * rows;
    let a_batch = groups * a_rows * p;
    let b_group = geom.channels * geom.in_h * geom.in_w;
    let b_batch = groups * b_group;
    let mut dw = vec![zero; out_len];
    if batch == 0 || out_len == 0 || p == 0 {
        return dw;
    }
    let chunk = (PACK_LIMIT / (rows.max(a_rows) * p)).clamp(1, batch);
    let mut packed_a = uninit_vec(a_rows * chunk * p);
    let mut col = uninit_vec(rows * chunk * p);
    // The chunk's padded copies (zero borders written once, interiors per chunk).
    let plen = if geom.needs_copy() { geom.padded_len() } else { 0 };
    let mut padded = vec![zero; plen * chunk];
    for g in 0..groups {
        let dst = &mut dw[g * a_rows * rows..(g + 1) * a_rows * rows];
        for c0 in (0..batch).step_by(chunk) {
            let cn = chunk.min(batch - c0);
            let kk = cn * p;
            let image = |j: usize| &b[(c0 + j) * b_batch + g * b_group..][..b_group];
            if plen > 0 {
                let pads = &mut padded[..plen * cn];
                #[cfg(feature = "rayon")]
                {
                    use rayon::prelude::*;
                    pads.par_chunks_mut(plen).enumerate().for_each(|(j, d)| geom.pad(image(j), d));
                }
                #[cfg(not(feature = "rayon"))]
                pads.chunks_mut(plen).enumerate().for_each(|(j, d)| geom.pad(image(j), d));
            }
            let padded = &padded[..];
            let pack_a = |l: usize, dst_l: &mut [T]| {
                for j in 0..cn {
                    let src = &a[(c0 + j) * a_batch + (g * a_rows + l) * p..][..p];
                    dst_l[j * p..(j + 1) * p].copy_from_slice(src);
                }
            };
            let pack_col = |r: usize, dst_r: &mut [T]| {
                if geom.is_identity {
                    // p == 1: row r of image j is b[j][r].
                    for (j, d) in dst_r.iter_mut().enumerate() {
                        *d = b[(c0 + j) * b_batch + g * b_group + r];
                    }
                    return;
                }
                for j in 0..cn {
                    let src = if plen > 0 { &padded[j * plen..][..plen] } else { image(j) };
                    geom.fill_row(r, src, &mut dst_r[j * p..(j + 1) * p]);
                }
            };
            let (pa, pc) = (&mut packed_a[..a_rows * kk], &mut col[..rows * kk]);
            #[cfg(feature = "rayon")]
            {
                use rayon::prelude::*;
                pa.par_chunks_mut(kk).enumerate().for_each(|(l, d)| pack_a(l, d));
                pc.par_chunks_mut(kk).enumerate().for_each(|(r, d)| pack_col(r, d));
            }
            #[cfg(not(feature = "rayon"))]
            {
                pa.chunks_mut(kk).enumerate().for_each(|(l, d)| pack_a(l, d));
                pc.chunks_mut(kk).enumerate().for_each(|(r, d)| pack_col(r, d));
            }
            // SAFETY: dst is a_rows x rows (row stride rows); lhs A' is a_rows x kk (row stride
            // kk); rhs col'^T is kk x rows (col'[r * kk + k] is its element (k, r)).
            unsafe {
                gemm::gemm(
                    a_rows,
                    rows,
                    kk,
                    dst.as_mut_ptr(),
                    1,
                    rows as isize,
                    c0 > 0,
                    pa.as_ptr(),
                    1,
                    kk as isize,
                    pc.as_ptr(),
                    kk as isize,
                    1,
                    one,
                    one,
                    false,
                    false,
                    false,
                    gemm_parallelism(a_rows * rows * kk),
                );
            }
        }
    }
    dw
}

/// Threads for one GEMM of `work` multiply-adds: the GEMM splits its output blocks, never its
/// reduction, so each output element's sum is the same on any number of threads.
fn gemm_parallelism(work: usize) -> gemm::Parallelism {
    #[cfg(feature = "rayon")]
    {
        if work >= 1 << 20 {
            return gemm::Parallelism::Rayon(0);
        }
    }
    let _ = work;
    gemm::Parallelism::None
}

/// Forward `conv2d` with `groups == 1`: per batch element (in parallel), its im2col and one GEMM
/// `out_n = W col_n` (`W` as `[c_out, c_in * k_h * k_w]`), then the bias.
fn conv2d_forward<T>(
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    geom: &Im2col,
    batch: usize,
    c_out: usize,
    zero: T,
    one: T,
) -> Vec<T>
where
    T: Copy + Send + Sync + core::ops::Add<Output = T> + 'static,
{
    let rows = geom.rows();
    let p = geom.cols();
    let x_batch = geom.channels * geom.in_h * geom.in_w;
    // Written in full by the GEMMs (read_dst = false).
    let mut out = uninit_vec(batch * c_out * p);
    if out.is_empty() {
        return out;
    }
    let plen = if geom.needs_copy() { geom.padded_len() } else { 0 };
    let one_image = |n: usize, out_n: &mut [T], (col, pad): &mut (Vec<T>, Vec<T>)| {
        geom.fill(geom.source(&x[n * x_batch..(n + 1) * x_batch], pad), col);
        // SAFETY: out_n is c_out x p (row stride p); W is c_out x rows (row stride rows);
        // col is rows x p (row stride p).
        unsafe {
            gemm::gemm(
                c_out,
                p,
                rows,
                out_n.as_mut_ptr(),
                1,
                p as isize,
                false,
                w.as_ptr(),
                1,
                rows as isize,
                col.as_ptr(),
                1,
                p as isize,
                zero,
                one,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        if let Some(bias) = bias {
            for (row, &b) in out_n.chunks_mut(p).zip(bias) {
                for o in row.iter_mut() {
                    *o = *o + b;
                }
            }
        }
    };
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(c_out * p)
            .enumerate()
            .for_each_init(|| (uninit_vec(rows * p), vec![zero; plen]), |bufs, (n, out_n)| one_image(n, out_n, bufs));
    }
    #[cfg(not(feature = "rayon"))]
    {
        let mut bufs = (uninit_vec(rows * p), vec![zero; plen]);
        for (n, out_n) in out.chunks_mut(c_out * p).enumerate() {
            one_image(n, out_n, &mut bufs);
        }
    }
    out
}

/// Whether `conv2d` takes [`conv2d`] here: f32/f64, no groups, a kernel larger than 1x1 (flex's
/// 1x1 path is a plain GEMM already) and not flex's small-channel direct path (stride 1, at most
/// 4 -> 16 channels), which is faster at those sizes.
pub fn takes_conv2d(x: &FlexTensor, weight: &FlexTensor, options: &ConvOptions<2>) -> bool {
    if crate::tensor::temp_ab_unpatched() || options.groups != 1 {
        return false;
    }
    if !matches!(x.dtype(), DType::F32 | DType::F64) || weight.dtype() != x.dtype() {
        return false;
    }
    let ws = weight.layout().shape();
    let xs = x.layout().shape();
    if ws[2] * ws[3] == 1 {
        return false;
    }
    let small_channel = xs[1] <= 4 && ws[0] <= 16;
    !(small_channel && options.stride == [1, 1])
}

/// Forward `conv2d` (see [`takes_conv2d`] for when it applies).
pub fn conv2d(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let x = x.to_contiguous();
    let weight = weight.to_contiguous();
    let bias = bias.map(|b| b.to_contiguous());
    let xs = x.layout().shape().clone();
    let ws = weight.layout().shape().clone();
    let out_size = |i: usize| {
        calculate_conv_output_size(ws[2 + i], options.stride[i], options.padding[i], options.dilation[i], xs[2 + i])
    };
    let geom = Im2col::new(
        xs[1],
        [xs[2], xs[3]],
        [ws[2], ws[3]],
        [out_size(0), out_size(1)],
        options.stride,
        options.padding,
        options.dilation,
    );
    let shape = Shape::from(vec![xs[0], ws[0], geom.out_h, geom.out_w]);
    let dtype = x.dtype();
    match dtype {
        DType::F32 => finish(
            conv2d_forward(
                x.storage::<f32>(),
                weight.storage::<f32>(),
                bias.as_ref().map(|b| b.storage::<f32>()),
                &geom,
                xs[0],
                ws[0],
                0.0f32,
                1.0f32,
            ),
            &shape,
            dtype,
        ),
        DType::F64 => finish(
            conv2d_forward(
                x.storage::<f64>(),
                weight.storage::<f64>(),
                bias.as_ref().map(|b| b.storage::<f64>()),
                &geom,
                xs[0],
                ws[0],
                0.0f64,
                1.0f64,
            ),
            &shape,
            dtype,
        ),
        dtype => panic!("conv2d (im2col + GEMM): unsupported dtype {:?}", dtype),
    }
}

fn typed_conv2d_weight_grad<T>(
    x: &FlexTensor,
    output_grad: &FlexTensor,
    weight_shape: &Shape,
    options: &ConvOptions<2>,
    zero: T,
    one: T,
) -> Vec<T>
where
    T: bytemuck::Pod + burn_backend::Element + Send + Sync + core::ops::Add<Output = T>,
{
    let xs = x.layout().shape();
    let gs = output_grad.layout().shape();
    let (batch, in_h, in_w) = (xs[0], xs[2], xs[3]);
    let (c_out, out_h, out_w) = (gs[1], gs[2], gs[3]);
    let groups = options.groups;
    let geom = Im2col::new(
        weight_shape[1],
        [in_h, in_w],
        [weight_shape[2], weight_shape[3]],
        [out_h, out_w],
        options.stride,
        options.padding,
        options.dilation,
    );
    batched_weight_grad(
        output_grad.storage::<T>(),
        c_out / groups,
        x.storage::<T>(),
        &geom,
        groups,
        batch,
        zero,
        one,
    )
}

fn typed_conv_transpose2d_weight_grad<T>(
    x: &FlexTensor,
    output_grad: &FlexTensor,
    weight_shape: &Shape,
    options: &ConvTransposeOptions<2>,
    zero: T,
    one: T,
) -> Vec<T>
where
    T: bytemuck::Pod + burn_backend::Element + Send + Sync + core::ops::Add<Output = T>,
{
    let xs = x.layout().shape();
    let gs = output_grad.layout().shape();
    let (batch, c_in, in_h, in_w) = (xs[0], xs[1], xs[2], xs[3]);
    let (out_h, out_w) = (gs[2], gs[3]);
    let groups = options.groups;
    // The conv from the transposed conv's output positions back to its input positions.
    let geom = Im2col::new(
        weight_shape[1],
        [out_h, out_w],
        [weight_shape[2], weight_shape[3]],
        [in_h, in_w],
        options.stride,
        options.padding,
        options.dilation,
    );
    batched_weight_grad(
        x.storage::<T>(),
        c_in / groups,
        output_grad.storage::<T>(),
        &geom,
        groups,
        batch,
        zero,
        one,
    )
}

fn finish<T: bytemuck::Pod + burn_backend::Element>(
    data: Vec<T>,
    weight_shape: &Shape,
    dtype: DType,
) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(data),
        Layout::contiguous(weight_shape.clone()),
        dtype,
    )
}

/// Gradient of `conv2d` with respect to its weight (`[c_out, c_in / groups, k_h, k_w]`).
pub fn conv2d_weight_backward(
    x: FlexTensor,
    weight_shape: Shape,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    weight_grad_by_dtype(
        x,
        output_grad,
        weight_shape,
        "conv2d_weight_backward",
        |x, g, ws| typed_conv2d_weight_grad(x, g, ws, options, 0.0f32, 1.0f32),
        |x, g, ws| typed_conv2d_weight_grad(x, g, ws, options, 0.0f64, 1.0f64),
    )
}

/// Gradient of `conv_transpose2d` with respect to its weight (`[c_in, c_out / groups, k_h, k_w]`).
pub fn conv_transpose2d_weight_backward(
    x: FlexTensor,
    weight_shape: Shape,
    output_grad: FlexTensor,
    options: &ConvTransposeOptions<2>,
) -> FlexTensor {
    weight_grad_by_dtype(
        x,
        output_grad,
        weight_shape,
        "conv_transpose2d_weight_backward",
        |x, g, ws| typed_conv_transpose2d_weight_grad(x, g, ws, options, 0.0f32, 1.0f32),
        |x, g, ws| typed_conv_transpose2d_weight_grad(x, g, ws, options, 0.0f64, 1.0f64),
    )
}

/// The dtype dispatch both weight gradients share: f32 and f64 natively, half precision through
/// f32 (the sums in f32, the result cast back, as flex's half-precision convs do).
fn weight_grad_by_dtype(
    x: FlexTensor,
    output_grad: FlexTensor,
    weight_shape: Shape,
    what: &str,
    f32_fn: impl Fn(&FlexTensor, &FlexTensor, &Shape) -> Vec<f32>,
    f64_fn: impl Fn(&FlexTensor, &FlexTensor, &Shape) -> Vec<f64>,
) -> FlexTensor {
    use super::module::{cast_from_f32, cast_to_f32};
    use burn_std::{bf16, f16};
    let x = x.to_contiguous();
    let g = output_grad.to_contiguous();
    match x.dtype() {
        DType::F32 => finish(f32_fn(&x, &g, &weight_shape), &weight_shape, DType::F32),
        DType::F64 => finish(f64_fn(&x, &g, &weight_shape), &weight_shape, DType::F64),
        DType::F16 => {
            let (x, g) = (cast_to_f32(x, f16::to_f32), cast_to_f32(g, f16::to_f32));
            let w = finish(f32_fn(&x, &g, &weight_shape), &weight_shape, DType::F32);
            cast_from_f32::<f16>(w, f16::from_f32)
        }
        DType::BF16 => {
            let (x, g) = (cast_to_f32(x, bf16::to_f32), cast_to_f32(g, bf16::to_f32));
            let w = finish(f32_fn(&x, &g, &weight_shape), &weight_shape, DType::F32);
            cast_from_f32::<bf16>(w, bf16::from_f32)
        }
        dtype => panic!("{what}: unsupported dtype {:?}", dtype),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Direct sum of the definition, for the tests.
    fn naive_conv2d_weight_grad(
        x: &[f64],
        g: &[f64],
        [n, c_in, h, w]: [usize; 4],
        [c_out, oh, ow]: [usize; 3],
        [kh, kw]: [usize; 2],
        s: [usize; 2],
        p: [usize; 2],
        d: [usize; 2],
        groups: usize,
    ) -> Vec<f64> {
        let cin_g = c_in / groups;
        let cout_g = c_out / groups;
        let mut dw = vec![0.0; c_out * cin_g * kh * kw];
        for b in 0..n {
            for co in 0..c_out {
                let grp = co / cout_g;
                for ci in 0..cin_g {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let mut acc = 0.0;
                            for oy in 0..oh {
                                for ox in 0..ow {
                                    let iy = (oy * s[0] + ky * d[0]) as isize - p[0] as isize;
                                    let ix = (ox * s[1] + kx * d[1]) as isize - p[1] as isize;
                                    if iy < 0 || ix < 0 || iy as usize >= h || ix as usize >= w {
                                        continue;
                                    }
                                    let xv = x[((b * c_in + grp * cin_g + ci) * h + iy as usize) * w
                                        + ix as usize];
                                    acc += g[((b * c_out + co) * oh + oy) * ow + ox] * xv;
                                }
                            }
                            dw[((co * cin_g + ci) * kh + ky) * kw + kx] += acc;
                        }
                    }
                }
            }
        }
        dw
    }

    pub(crate) fn lcg(seed: u64, len: usize) -> Vec<f64> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5
            })
            .collect()
    }

    /// The im2col (padded, phase-split copy, then contiguous runs) against its definition,
    /// over strides, paddings, dilations and sizes, odd ones included.
    #[test]
    fn im2col_matches_the_definition() {
        let mut cases = 0;
        for (h, w) in [(5, 7), (8, 8), (3, 2), (16, 9)] {
            for k in [[1, 1], [2, 3], [4, 4], [3, 1]] {
                for s in [[1, 1], [2, 2], [3, 1], [1, 2]] {
                    for p in [[0, 0], [1, 1], [2, 0]] {
                        for d in [[1, 1], [2, 1]] {
                            let span = |a: usize, n: usize| n + 2 * p[a];
                            let reach = |a: usize| d[a] * (k[a] - 1) + 1;
                            if span(0, h) < reach(0) || span(1, w) < reach(1) {
                                continue;
                            }
                            let oh = (span(0, h) - reach(0)) / s[0] + 1;
                            let ow = (span(1, w) - reach(1)) / s[1] + 1;
                            let c = 2;
                            let x = lcg(cases, c * h * w);
                            let geom = Im2col::new(c, [h, w], k, [oh, ow], s, p, d);
                            let mut buf = vec![0.0; geom.padded_len()];
                            let mut col = vec![f64::NAN; geom.rows() * geom.cols()];
                            geom.fill(geom.source(&x, &mut buf), &mut col);
                            for ci in 0..c {
                                for ky in 0..k[0] {
                                    for kx in 0..k[1] {
                                        for oy in 0..oh {
                                            for ox in 0..ow {
                                                let iy = (oy * s[0] + ky * d[0]) as isize - p[0] as isize;
                                                let ix = (ox * s[1] + kx * d[1]) as isize - p[1] as isize;
                                                let want = if iy < 0 || ix < 0 || iy as usize >= h || ix as usize >= w {
                                                    0.0
                                                } else {
                                                    x[(ci * h + iy as usize) * w + ix as usize]
                                                };
                                                let r = (ci * k[0] + ky) * k[1] + kx;
                                                assert_eq!(col[r * oh * ow + oy * ow + ox], want, "{h}x{w} k {k:?} s {s:?} p {p:?} d {d:?}");
                                            }
                                        }
                                    }
                                }
                            }
                            cases += 1;
                        }
                    }
                }
            }
        }
        assert!(cases > 100, "{cases} geometries");
    }

    #[test]
    fn conv2d_weight_grad_matches_the_definition() {
        // (n, c_in, h, w, c_out, k, stride, padding, dilation, groups)
        let cases = [
            (3, 2, 7, 6, 4, [3, 2], [1, 1], [0, 0], [1, 1], 1),
            (10, 4, 8, 8, 6, [4, 4], [2, 2], [1, 1], [1, 1], 2),
            (2, 3, 9, 7, 3, [3, 3], [2, 1], [2, 1], [2, 1], 3),
            (1, 1, 5, 5, 2, [5, 5], [1, 1], [0, 0], [1, 1], 1),
        ];
        for (i, &(n, c_in, h, w, c_out, k, s, p, d, groups)) in cases.iter().enumerate() {
            let oh = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) / s[0] + 1;
            let ow = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) / s[1] + 1;
            let x = lcg(i as u64, n * c_in * h * w);
            let g = lcg(100 + i as u64, n * c_out * oh * ow);
            let want = naive_conv2d_weight_grad(&x, &g, [n, c_in, h, w], [c_out, oh, ow], k, s, p, d, groups);
            let xt = FlexTensor::new(
                Bytes::from_elems(x),
                Layout::contiguous(Shape::from(vec![n, c_in, h, w])),
                DType::F64,
            );
            let gt = FlexTensor::new(
                Bytes::from_elems(g),
                Layout::contiguous(Shape::from(vec![n, c_out, oh, ow])),
                DType::F64,
            );
            let opts = ConvOptions::new(s, p, d, groups);
            let got = conv2d_weight_backward(
                xt,
                Shape::from(vec![c_out, c_in / groups, k[0], k[1]]),
                gt,
                &opts,
            );
            let got: &[f64] = got.storage();
            assert_eq!(got.len(), want.len());
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "case {i}: {a} vs {b}");
            }
        }
    }
}
