use serde::Deserialize;

/// Where a model runs. A requested GPU provider that cannot start is an error, never a
/// silent fall-back to the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    #[default]
    Cpu,
    /// NVIDIA CUDA; needs the GPU build of ONNX Runtime (`onnxruntime-gpu`).
    Cuda,
    /// NVIDIA TensorRT, with CUDA for what TensorRT does not take.
    Tensorrt,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::Cpu => "CPU",
            Provider::Cuda => "CUDA",
            Provider::Tensorrt => "TensorRT",
        }
    }

    /// The execution providers to register, each required to start.
    pub(crate) fn dispatch(self, device_id: i32) -> Vec<ort::ep::ExecutionProviderDispatch> {
        let cuda = || {
            ort::ep::CUDA::default()
                .with_device_id(device_id)
                .build()
                .error_on_failure()
        };
        match self {
            Provider::Cpu => Vec::new(),
            Provider::Cuda => vec![cuda()],
            Provider::Tensorrt => vec![
                ort::ep::TensorRT::default()
                    .with_device_id(device_id)
                    .build()
                    .error_on_failure(),
                cuda(),
            ],
        }
    }
}
