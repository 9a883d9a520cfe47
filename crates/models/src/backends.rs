//! Every burn backend this project uses is named here and nowhere else, so that a burn upgrade
//! (whose backend crates and type names move between versions) is a change to this one file.
//!
//! - `ndarray`: burn-ndarray 0.21 on the CPU.
//! - `flex`: burn-flex 0.21, burn's newer pure-Rust CPU backend (SIMD + rayon, no C code).
//! - `cuda`: burn-cuda 0.21, only in builds with this crate's cargo feature `cuda`
//!   (cudarc loads libcuda and NVRTC at run time, so the binary builds without a GPU).
//!
//! Code that should run on any of them is written generic over `B: AutodiffBackend` and
//! called through [`with_backend!`](crate::with_backend), which expands the body once per backend.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

/// burn-ndarray on the CPU, f32.
pub type NdArray = burn::backend::NdArray<f32>;
/// burn-flex on the CPU (f32 by default).
pub type Flex = burn::backend::Flex;
/// Autodiff over [`NdArray`].
pub type NdArrayAd = burn::backend::Autodiff<NdArray>;
/// Autodiff over [`Flex`].
pub type FlexAd = burn::backend::Autodiff<Flex>;

/// burn-cuda (f32, i32 indices).
#[cfg(feature = "cuda")]
pub type Cuda = burn::backend::Cuda<f32, i32>;
/// Autodiff over [`Cuda`]. In a build without the `cuda` feature this names the ndarray backend
/// so that code generic over the backend still type-checks; [`cuda_device`] then always errs, so
/// nothing ever runs on it.
#[cfg(feature = "cuda")]
pub type CudaAd = burn::backend::Autodiff<Cuda>;
#[cfg(not(feature = "cuda"))]
pub type CudaAd = NdArrayAd;

/// Whether this build contains the CUDA backend.
pub const CUDA_BUILT: bool = cfg!(feature = "cuda");

/// The backend a run uses, as the command line names it (`--backend ndarray|flex|cuda`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    NdArray,
    Flex,
    Cuda,
}

impl BackendKind {
    /// The CPU backend measured fastest on this project's models (README, "Performance").
    pub const DEFAULT_CPU: BackendKind = BackendKind::Flex;

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::NdArray => "ndarray",
            BackendKind::Flex => "flex",
            BackendKind::Cuda => "cuda",
        }
    }

    pub fn is_cpu(self) -> bool {
        !matches!(self, BackendKind::Cuda)
    }
}

impl Default for BackendKind {
    fn default() -> Self {
        Self::DEFAULT_CPU
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = BackendError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ndarray" => Ok(BackendKind::NdArray),
            "flex" => Ok(BackendKind::Flex),
            "cuda" => Ok(BackendKind::Cuda),
            other => Err(BackendError::Unknown(other.to_string())),
        }
    }
}

/// Why a backend cannot be used; each message is one line saying what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BackendError {
    #[error("unknown backend `{0}` (valid: ndarray, flex, cuda)")]
    Unknown(String),
    #[error(
        "this binary was built without CUDA support; rebuild with `cargo build --release -p experiments --features cuda` and run that binary with --backend cuda"
    )]
    CudaNotBuilt,
    #[error("--backend cuda: no usable CUDA GPU or driver on this machine ({0}); use --backend ndarray or flex")]
    NoGpu(String),
}

/// The CPU device of burn-ndarray.
pub fn ndarray_device() -> burn::tensor::Device<NdArray> {
    Default::default()
}

/// The CPU device of burn-flex.
pub fn flex_device() -> burn::tensor::Device<Flex> {
    Default::default()
}

/// The first CUDA GPU, after checking that it can actually run a kernel. cudarc panics when
/// libcuda is missing or no device is present; that panic is caught here (its message silenced)
/// and turned into [`BackendError::NoGpu`], so the user sees one line instead of a backtrace.
#[cfg(feature = "cuda")]
pub fn cuda_device() -> Result<burn::tensor::Device<CudaAd>, BackendError> {
    use burn::tensor::Tensor;
    static PROBED: Mutex<Option<Result<(), String>>> = Mutex::new(None);
    let mut probed = PROBED.lock().unwrap_or_else(|p| p.into_inner());
    if probed.is_none() {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let r = std::panic::catch_unwind(|| {
            let device = burn::backend::cuda::CudaDevice::default();
            let t = Tensor::<Cuda, 1>::ones([4], &device).sum();
            t.into_data().to_vec::<f32>().map(|v| v[0]).unwrap_or(0.0)
        });
        std::panic::set_hook(previous);
        *probed = Some(match r {
            Ok(v) if (v - 4.0).abs() < 1e-6 => Ok(()),
            Ok(v) => Err(format!("a test sum on the GPU returned {v}, not 4")),
            Err(e) => Err(panic_message(&e)),
        });
    }
    match probed.as_ref().expect("set above") {
        Ok(()) => Ok(burn::backend::cuda::CudaDevice::default()),
        Err(m) => Err(BackendError::NoGpu(m.clone())),
    }
}

/// Without the `cuda` feature: always [`BackendError::CudaNotBuilt`].
#[cfg(not(feature = "cuda"))]
pub fn cuda_device() -> Result<burn::tensor::Device<CudaAd>, BackendError> {
    Err(BackendError::CudaNotBuilt)
}

#[cfg(feature = "cuda")]
fn panic_message(e: &Box<dyn std::any::Any + Send>) -> String {
    let s = if let Some(s) = e.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else {
        "the CUDA runtime panicked".to_string()
    };
    s.lines().next().unwrap_or("").chars().take(200).collect()
}

/// burn's backend RNGs are process-global (one per backend). Everything in this crate that seeds
/// and then draws from them (weight initialisation, noise layers) holds this lock, so that runs
/// in parallel threads (tests, several seeds) stay reproducible.
pub static BACKEND_RNG: Mutex<()> = Mutex::new(());

/// Locks [`BACKEND_RNG`] (a poisoned lock is still usable: it guards no data).
pub fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    BACKEND_RNG.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `$body` with the type alias `$B` bound to the autodiff backend `$kind` names and `$dev`
/// to its device; evaluates to `Result<_, BackendError>`.
///
/// ```ignore
/// let n = models::with_backend!(kind, |B, device| my_generic_fn::<B>(&device))?;
/// ```
#[macro_export]
macro_rules! with_backend {
    ($kind:expr, |$B:ident, $dev:ident| $body:expr) => {{
        match $kind {
            $crate::backends::BackendKind::NdArray => {
                #[allow(dead_code)]
                type $B = $crate::backends::NdArrayAd;
                let $dev = $crate::backends::ndarray_device();
                Ok::<_, $crate::backends::BackendError>($body)
            }
            $crate::backends::BackendKind::Flex => {
                #[allow(dead_code)]
                type $B = $crate::backends::FlexAd;
                let $dev = $crate::backends::flex_device();
                Ok($body)
            }
            $crate::backends::BackendKind::Cuda => match $crate::backends::cuda_device() {
                Ok($dev) => {
                    #[allow(dead_code)]
                    type $B = $crate::backends::CudaAd;
                    Ok($body)
                }
                Err(e) => Err(e),
            },
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_is_one_line() {
        for k in [BackendKind::NdArray, BackendKind::Flex, BackendKind::Cuda] {
            assert_eq!(k.name().parse::<BackendKind>().unwrap(), k);
        }
        let e = "tpu".parse::<BackendKind>().unwrap_err().to_string();
        assert!(e.contains("tpu") && e.contains("ndarray") && !e.contains('\n'), "{e}");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_says_how_to_build_it() {
        let r: Result<usize, BackendError> = crate::with_backend!(BackendKind::Cuda, |B, _d| 1usize);
        let e = r.unwrap_err().to_string();
        assert!(e.contains("--features cuda") && !e.contains('\n'), "{e}");
    }

    #[test]
    fn both_cpu_backends_run_a_body() {
        for k in [BackendKind::NdArray, BackendKind::Flex] {
            let s = crate::with_backend!(k, |B, device| {
                burn::tensor::Tensor::<B, 1>::ones([3], &device).sum().into_scalar()
            })
            .unwrap();
            assert_eq!(s, 3.0);
        }
    }
}
