//! The two operations that make a MobileFaceNet-style recognizer (SFace) trainable at
//! inference-class speed on a CPU, as candle custom ops with their own backward passes:
//!
//! - a 3×3 depthwise convolution (padding 1, stride 1 or 2). candle runs a grouped
//!   convolution as one convolution per group and concatenates the results, so SFace's 13
//!   depthwise layers cost thousands of tiny im2col + matmul calls per pass, and as many
//!   chunk/cat nodes in the backward pass;
//! - a per-channel affine map followed by PReLU (a frozen BatchNormalization and its
//!   activation): composed from candle's broadcast ops, every one of its element-wise steps
//!   is a separate pass over the activation in the forward and in the backward pass.
//!
//! Both work on channels-last tensors (`[.., C]` contiguous), where the inner loop over
//! channels is contiguous for input, weight and output alike. Work is split over rayon's
//! threads by image or by block of rows.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Shape, Tensor, bail};
use rayon::prelude::*;

type Result<T> = candle_core::Result<T>;

const KERNEL: usize = 3;
const TAPS: usize = KERNEL * KERNEL;

/// Time spent in each kernel since the last [`reset_profile`], for `squint bench-teacher`.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct KernelProfile {
    pub depthwise_forward_s: f64,
    pub depthwise_backward_s: f64,
    pub affine_forward_s: f64,
    pub affine_backward_s: f64,
}

static NANOS: [AtomicU64; 4] = [
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
];

fn timed<T>(slot: usize, work: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = work();
    NANOS[slot].fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    out
}

pub fn reset_profile() {
    for slot in &NANOS {
        slot.store(0, Ordering::Relaxed);
    }
}

pub fn profile() -> KernelProfile {
    let s = |i: usize| NANOS[i].load(Ordering::Relaxed) as f64 * 1e-9;
    KernelProfile {
        depthwise_forward_s: s(0),
        depthwise_backward_s: s(1),
        affine_forward_s: s(2),
        affine_backward_s: s(3),
    }
}

fn contiguous<'a>(storage: &'a CpuStorage, layout: &Layout, what: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(data) = storage else {
        bail!("{what}: expected an f32 tensor")
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => bail!("{what}: expected a contiguous tensor"),
    }
}

/// Shape of one depthwise convolution: input `[n, h, w, c]`, output `[n, oh, ow, c]`.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    stride: usize,
    oh: usize,
    ow: usize,
}

impl Geometry {
    fn new(input: &Layout, weight: &Layout, stride: usize) -> Result<Geometry> {
        let &[n, h, w, c] = input.dims() else {
            bail!("depthwise conv: input must be [N, H, W, C], got {:?}", input.dims())
        };
        if weight.dims() != [TAPS, c] {
            bail!("depthwise conv: weight must be [9, {c}], got {:?}", weight.dims());
        }
        if !(1..=2).contains(&stride) || h == 0 || w == 0 {
            bail!("depthwise conv: stride {stride} on {h}x{w} is not supported");
        }
        // Padding 1 on each side: (h + 2 - 3) / stride + 1.
        let out = |side: usize| (side - 1) / stride + 1;
        Ok(Geometry {
            n,
            h,
            w,
            c,
            stride,
            oh: out(h),
            ow: out(w),
        })
    }

    /// The input row or column a tap reads for an output position, if inside the image.
    fn source(&self, out: usize, tap: usize, side: usize) -> Option<usize> {
        (out * self.stride + tap).checked_sub(1).filter(|&i| i < side)
    }

    /// Every (tap, input pixel offset, output pixel offset) of image `n`'s output row `oy`.
    fn for_each_tap(&self, oy: usize, mut visit: impl FnMut(usize, usize, usize)) {
        for ky in 0..KERNEL {
            let Some(iy) = self.source(oy, ky, self.h) else {
                continue;
            };
            for ox in 0..self.ow {
                for kx in 0..KERNEL {
                    if let Some(ix) = self.source(ox, kx, self.w) {
                        visit(
                            ky * KERNEL + kx,
                            (iy * self.w + ix) * self.c,
                            (oy * self.ow + ox) * self.c,
                        );
                    }
                }
            }
        }
    }
}

/// 3×3 depthwise convolution, padding 1: `x` `[N, H, W, C]`, weight `[9, C]` (tap-major,
/// `ky * 3 + kx`), output `[N, OH, OW, C]`.
pub fn depthwise_conv(x: &Tensor, weight: &Tensor, stride: usize) -> Result<Tensor> {
    x.contiguous()?.apply_op2(&weight.contiguous()?, Depthwise { stride })
}

struct Depthwise {
    stride: usize,
}

impl CustomOp2 for Depthwise {
    fn name(&self) -> &'static str {
        "depthwise-conv3x3"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = Geometry::new(l1, l2, self.stride)?;
        let (x, weight) = (
            contiguous(s1, l1, "depthwise input")?,
            contiguous(s2, l2, "depthwise weight")?,
        );
        let image_out = g.oh * g.ow * g.c;
        let mut out = vec![0f32; g.n * image_out];
        timed(0, || {
            out.par_chunks_mut(g.ow * g.c).enumerate().for_each(|(row, out_row)| {
                let (n, oy) = (row / g.oh, row % g.oh);
                let image = &x[n * g.h * g.w * g.c..][..g.h * g.w * g.c];
                g.for_each_tap(oy, |tap, at, to| {
                    let to = to - oy * g.ow * g.c;
                    let w = &weight[tap * g.c..][..g.c];
                    for ((o, a), b) in out_row[to..to + g.c].iter_mut().zip(&image[at..at + g.c]).zip(w) {
                        *o += a * b;
                    }
                });
            });
        });
        Ok((CpuStorage::F32(out), Shape::from((g.n, g.oh, g.ow, g.c))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let both = x.apply_op3_no_bwd(weight, &grad, &DepthwiseBackward { stride: self.stride })?;
        let dx = both.narrow(0, 0, x.elem_count())?.reshape(x.shape())?;
        let dw = both
            .narrow(0, x.elem_count(), weight.elem_count())?
            .reshape(weight.shape())?;
        Ok((Some(dx), Some(dw)))
    }
}

/// Both gradients in one pass over each image: `[dx (N·H·W·C) | dw (9·C)]`, flat.
struct DepthwiseBackward {
    stride: usize,
}

impl CustomOp3 for DepthwiseBackward {
    fn name(&self) -> &'static str {
        "depthwise-conv3x3-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = Geometry::new(l1, l2, self.stride)?;
        if l3.dims() != [g.n, g.oh, g.ow, g.c] {
            bail!(
                "depthwise backward: gradient is {:?}, expected {:?}",
                l3.dims(),
                [g.n, g.oh, g.ow, g.c]
            );
        }
        let x = contiguous(s1, l1, "depthwise input")?;
        let weight = contiguous(s2, l2, "depthwise weight")?;
        let grad = contiguous(s3, l3, "depthwise gradient")?;
        let (image_in, image_out) = (g.h * g.w * g.c, g.oh * g.ow * g.c);
        let mut dx = vec![0f32; g.n * image_in];
        let dw = timed(1, || {
            dx.par_chunks_mut(image_in)
                .enumerate()
                .map(|(n, dx_image)| {
                    let image = &x[n * image_in..][..image_in];
                    let grad_image = &grad[n * image_out..][..image_out];
                    let mut dw = vec![0f32; TAPS * g.c];
                    for oy in 0..g.oh {
                        g.for_each_tap(oy, |tap, at, from| {
                            let gr = &grad_image[from..from + g.c];
                            let w = &weight[tap * g.c..][..g.c];
                            for ((d, gv), wv) in dx_image[at..at + g.c].iter_mut().zip(gr).zip(w) {
                                *d += gv * wv;
                            }
                            for ((d, gv), xv) in dw[tap * g.c..][..g.c].iter_mut().zip(gr).zip(&image[at..at + g.c]) {
                                *d += gv * xv;
                            }
                        });
                    }
                    dw
                })
                .reduce(|| vec![0f32; TAPS * g.c], add_into)
        });
        dx.extend_from_slice(&dw);
        let len = dx.len();
        Ok((CpuStorage::F32(dx), Shape::from(len)))
    }
}

fn add_into(mut a: Vec<f32>, b: Vec<f32>) -> Vec<f32> {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
    a
}

/// `prelu(x · scale + shift, slope)` per channel: `x` `[.., C]`, `params` `[3, C]` holding
/// scale, shift and slope (slope 1: the affine map alone).
pub fn affine_prelu(x: &Tensor, params: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op2(&params.contiguous()?, AffinePrelu)
}

struct AffinePrelu;

/// Rows handed to one rayon task: large enough to amortise the task, small enough to balance.
const ROWS_PER_TASK: usize = 256;

fn affine_geometry(x: &Layout, params: &Layout) -> Result<(usize, usize)> {
    let c = x.dims().last().copied().unwrap_or(0);
    if params.dims() != [3, c] || c == 0 {
        bail!("affine-prelu: params must be [3, {c}], got {:?}", params.dims());
    }
    Ok((x.shape().elem_count() / c, c))
}

impl CustomOp2 for AffinePrelu {
    fn name(&self) -> &'static str {
        "affine-prelu"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (_, c) = affine_geometry(l1, l2)?;
        let (x, params) = (
            contiguous(s1, l1, "affine input")?,
            contiguous(s2, l2, "affine params")?,
        );
        let (scale, shift, slope) = (&params[..c], &params[c..2 * c], &params[2 * c..]);
        let mut out = vec![0f32; x.len()];
        timed(2, || {
            out.par_chunks_mut(ROWS_PER_TASK * c)
                .zip(x.par_chunks(ROWS_PER_TASK * c))
                .for_each(|(out, x)| {
                    for (out, x) in out.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
                        // Branch-free: the sign of z is random, a branch would be mispredicted
                        // half the time and keeps the loop from vectorising.
                        for ((((o, &x), &scale), &shift), &slope) in
                            out.iter_mut().zip(x).zip(scale).zip(shift).zip(slope)
                        {
                            let z = x * scale + shift;
                            *o = z.max(0.0) + slope * z.min(0.0);
                        }
                    }
                });
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        params: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let both = x.apply_op3_no_bwd(params, &grad, &AffinePreluBackward)?;
        let dx = both.narrow(0, 0, x.elem_count())?.reshape(x.shape())?;
        let dp = both
            .narrow(0, x.elem_count(), params.elem_count())?
            .reshape(params.shape())?;
        Ok((Some(dx), Some(dp)))
    }
}

/// `[dx | d scale, d shift, d slope]`, flat, in one pass.
struct AffinePreluBackward;

impl CustomOp3 for AffinePreluBackward {
    fn name(&self) -> &'static str {
        "affine-prelu-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (_, c) = affine_geometry(l1, l2)?;
        if l3.dims() != l1.dims() {
            bail!(
                "affine-prelu backward: gradient is {:?}, input {:?}",
                l3.dims(),
                l1.dims()
            );
        }
        let x = contiguous(s1, l1, "affine input")?;
        let params = contiguous(s2, l2, "affine params")?;
        let grad = contiguous(s3, l3, "affine gradient")?;
        let (scale, shift, slope) = (&params[..c], &params[c..2 * c], &params[2 * c..]);
        let mut dx = vec![0f32; x.len()];
        let dp = timed(3, || {
            dx.par_chunks_mut(ROWS_PER_TASK * c)
                .zip(x.par_chunks(ROWS_PER_TASK * c).zip(grad.par_chunks(ROWS_PER_TASK * c)))
                .map(|(dx, (x, grad))| {
                    let mut dp = vec![0f32; 3 * c];
                    let (d_scale, rest) = dp.split_at_mut(c);
                    let (d_shift, d_slope) = rest.split_at_mut(c);
                    for ((dx, x), grad) in dx.chunks_exact_mut(c).zip(x.chunks_exact(c)).zip(grad.chunks_exact(c)) {
                        for i in 0..c {
                            let z = x[i] * scale[i] + shift[i];
                            // 1 where z > 0, else 0: branch-free, as in the forward pass.
                            let positive = f32::from(u8::from(z > 0.0));
                            let dz = grad[i] * (positive + (1.0 - positive) * slope[i]);
                            d_slope[i] += grad[i] * z.min(0.0);
                            dx[i] = dz * scale[i];
                            d_scale[i] += dz * x[i];
                            d_shift[i] += dz;
                        }
                    }
                    dp
                })
                .reduce(|| vec![0f32; 3 * c], add_into)
        });
        dx.extend_from_slice(&dp);
        let len = dx.len();
        Ok((CpuStorage::F32(dx), Shape::from(len)))
    }
}

/// Patches of a channels-last input `[N, H, W, C]` for a full `kernel`×`kernel` convolution:
/// `[N·OH·OW, k·k·C]` (tap-major, then channel), zeros outside the image. Differentiable in
/// its input (the gradient is scattered back: col2im), so a trainable layer may sit in front
/// of the network's first convolution (a restoration front-end).
pub fn im2col(x: &Tensor, kernel: usize, stride: usize, pad: usize) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Im2Col { kernel, stride, pad })
}

#[derive(Debug, Clone, Copy)]
struct Im2Col {
    kernel: usize,
    stride: usize,
    pad: usize,
}

impl Im2Col {
    fn out_side(&self, side: usize) -> usize {
        (side + 2 * self.pad).saturating_sub(self.kernel) / self.stride + 1
    }

    /// Calls `f(column offset, input offset)` for every patch value that lies inside the
    /// image, `c` values each, for `dims` = `[n, h, w, c]`.
    fn for_each_copy(&self, dims: [usize; 4], mut f: impl FnMut(usize, usize)) {
        let [n, h, w, c] = dims;
        let (oh, ow, k) = (self.out_side(h), self.out_side(w), self.kernel);
        let row = k * k * c;
        for p in 0..n * oh * ow {
            let (image, oy, ox) = (p / (oh * ow), p / ow % oh, p % ow);
            for ky in 0..k {
                let Some(iy) = (oy * self.stride + ky).checked_sub(self.pad).filter(|&y| y < h) else {
                    continue;
                };
                for kx in 0..k {
                    if let Some(ix) = (ox * self.stride + kx).checked_sub(self.pad).filter(|&x| x < w) {
                        f(p * row + (ky * k + kx) * c, ((image * h + iy) * w + ix) * c);
                    }
                }
            }
        }
    }
}

fn dims4(layout: &Layout, what: &str) -> Result<[usize; 4]> {
    match layout.dims() {
        &[n, h, w, c] => Ok([n, h, w, c]),
        other => bail!("{what}: expected [N, H, W, C], got {other:?}"),
    }
}

impl CustomOp1 for Im2Col {
    fn name(&self) -> &'static str {
        "im2col"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let dims = dims4(layout, "im2col input")?;
        let x = contiguous(storage, layout, "im2col input")?;
        let [n, h, w, c] = dims;
        let row = self.kernel * self.kernel * c;
        let rows = n * self.out_side(h) * self.out_side(w);
        let mut cols = vec![0f32; rows * row];
        self.for_each_copy(dims, |to, from| cols[to..to + c].copy_from_slice(&x[from..from + c]));
        Ok((CpuStorage::F32(cols), Shape::from((rows, row))))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let dims = x.dims4()?;
        let dims = [dims.0, dims.1, dims.2, dims.3];
        let grad = grad.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let c = dims[3];
        let mut dx = vec![0f32; x.elem_count()];
        self.for_each_copy(dims, |col, at| {
            for (d, g) in dx[at..at + c].iter_mut().zip(&grad[col..col + c]) {
                *d += g;
            }
        });
        Ok(Some(Tensor::from_vec(dx, x.shape(), x.device())?))
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn im2col_scatters_its_gradient_back_to_every_pixel_it_copied() {
        // loss = Σ cols · r is linear in x, so a unit step in one pixel changes the loss by
        // exactly that pixel's gradient.
        let dims = (1, 5, 6, 2);
        let values: Vec<f32> = (0..60).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
        let x = candle_core::Var::from_vec(values.clone(), dims, &candle_core::Device::Cpu).unwrap();
        let cols = super::im2col(x.as_tensor(), 3, 2, 1).unwrap();
        let r = Tensor::rand(0f32, 1f32, cols.shape(), &candle_core::Device::Cpu).unwrap();
        let loss = |t: &Tensor| -> f32 {
            (super::im2col(t, 3, 2, 1).unwrap() * &r)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar()
                .unwrap()
        };
        let grads = (cols * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let dx = grads
            .get(x.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let base = loss(&Tensor::from_vec(values.clone(), dims, &candle_core::Device::Cpu).unwrap());
        for i in 0..values.len() {
            let mut stepped = values.clone();
            stepped[i] += 1.0;
            let moved = loss(&Tensor::from_vec(stepped, dims, &candle_core::Device::Cpu).unwrap()) - base;
            assert!((moved - dx[i]).abs() < 1e-3, "pixel {i}: {moved} vs {}", dx[i]);
        }
        assert!(dx.iter().any(|&g| g != 0.0));
    }
    use candle_core::{Device, Var};
    use rand::{Rng, SeedableRng};

    use super::*;

    fn random(dims: &[usize], seed: u64) -> Var {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let n: usize = dims.iter().product();
        let values: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        Var::from_tensor(&Tensor::from_vec(values, dims, &Device::Cpu).unwrap()).unwrap()
    }

    fn max_difference(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    /// Values and both gradients equal candle's own grouped convolution (NCHW, groups = C),
    /// at stride 1 and 2, with padding, on odd and even sides.
    #[test]
    fn depthwise_matches_candles_grouped_convolution_values_and_gradients() {
        for (stride, side) in [(1, 7), (2, 7), (2, 8), (1, 4)] {
            let (n, c) = (3, 5);
            let x = random(&[n, c, side, side], 1);
            let w = random(&[c, 1, 3, 3], 2);
            let reference = x.as_tensor().conv2d(w.as_tensor(), 1, stride, 1, c).unwrap();
            // A loss whose gradient differs everywhere, so every position is checked.
            let probe = random(reference.dims(), 3);
            let loss = (&reference * probe.as_tensor()).unwrap().sum_all().unwrap();
            let reference_grads = loss.backward().unwrap();

            let x_nhwc = x.as_tensor().permute((0, 2, 3, 1)).unwrap();
            let w_taps = w.as_tensor().reshape((c, 9)).unwrap().t().unwrap();
            let ours = depthwise_conv(&x_nhwc, &w_taps, stride)
                .unwrap()
                .permute((0, 3, 1, 2))
                .unwrap();
            assert_eq!(ours.dims(), reference.dims(), "stride {stride}, side {side}");
            assert!(max_difference(&ours, &reference) < 1e-5, "values, stride {stride}");
            let loss = (&ours * probe.as_tensor()).unwrap().sum_all().unwrap();
            let grads = loss.backward().unwrap();
            for (var, what) in [(&x, "input"), (&w, "weight")] {
                let (want, got) = (reference_grads.get(var).unwrap(), grads.get(var).unwrap());
                assert!(
                    max_difference(got, want) < 1e-4,
                    "{what} gradient, stride {stride}, side {side}"
                );
            }
        }
    }

    /// Values and the gradients of input, scale, shift and slope equal the same map composed
    /// from candle's broadcast ops.
    #[test]
    fn affine_prelu_matches_candles_composed_ops() {
        let c = 6;
        let x = random(&[2, 3, 4, c], 4);
        let scale = random(&[c], 5);
        let shift = random(&[c], 6);
        let slope = random(&[c], 7);
        let z = x
            .as_tensor()
            .broadcast_mul(scale.as_tensor())
            .unwrap()
            .broadcast_add(shift.as_tensor())
            .unwrap();
        let reference =
            (z.relu().unwrap() + z.minimum(0f32).unwrap().broadcast_mul(slope.as_tensor()).unwrap()).unwrap();
        let probe = random(reference.dims(), 8);
        let reference_grads = (&reference * probe.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();

        let params = Tensor::stack(&[scale.as_tensor(), shift.as_tensor(), slope.as_tensor()], 0).unwrap();
        let ours = affine_prelu(x.as_tensor(), &params).unwrap();
        assert!(max_difference(&ours, &reference) < 1e-6, "values");
        let grads = (&ours * probe.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for (var, what) in [(&x, "input"), (&scale, "scale"), (&shift, "shift"), (&slope, "slope")] {
            let (want, got) = (reference_grads.get(var).unwrap(), grads.get(var).unwrap());
            assert!(max_difference(got, want) < 1e-4, "{what} gradient");
        }
    }

    #[test]
    fn wrong_shapes_are_refused_with_the_shape_named() {
        let x = random(&[1, 4, 4, 3], 1);
        let err = depthwise_conv(x.as_tensor(), random(&[9, 4], 2).as_tensor(), 1).unwrap_err();
        assert!(err.to_string().contains("[9, 3]"), "{err}");
        let err = affine_prelu(x.as_tensor(), random(&[2, 3], 2).as_tensor()).unwrap_err();
        assert!(err.to_string().contains("[3, 3]"), "{err}");
    }
}
