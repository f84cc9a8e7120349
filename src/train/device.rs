//! The compute device, chosen at run time by `--device`, never by `Device::default()` (which
//! burn picks from whatever backends happen to be compiled in).

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

use crate::error::{Error, Result};

/// What `--device` asks for: the CPU (burn's flex backend), or a CUDA GPU by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    #[default]
    Cpu,
    Cuda(usize),
}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| format!("unknown device {s:?}: expected cpu, cuda or cuda:N")),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Cpu => write!(f, "cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl DeviceChoice {
    /// The burn device for this choice, or a clear error when it cannot be had.
    pub fn device(self) -> Result<Device> {
        match self {
            DeviceChoice::Cpu => Ok(Device::flex()),
            DeviceChoice::Cuda(index) => cuda_device(index),
        }
    }
}

#[cfg(feature = "cuda")]
fn cuda_device(index: usize) -> Result<Device> {
    let unavailable = |reason: String| Error::Device {
        device: format!("cuda:{index}"),
        reason,
    };
    // CubeCL reports a missing driver by panicking when the device is first used: try it once
    // here, so that the user gets one line instead of a backtrace.
    let device = Device::cuda(index);
    let probe = device.clone();
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {})); // the message below replaces the panic's
    let works = std::panic::catch_unwind(move || {
        let _ = burn::tensor::Tensor::<1>::zeros([1], &probe).into_data();
    });
    std::panic::set_hook(previous_hook);
    works.map_err(|_| {
        unavailable(
            "no usable CUDA GPU (driver missing or no such index); use --device cpu".to_string(),
        )
    })?;
    Ok(device)
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(index: usize) -> Result<Device> {
    Err(Error::Usage(format!(
        "--device cuda:{index}: this neurons was built without CUDA; rebuild with `cargo build --release --features cuda`, or use --device cpu"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_parse_and_print_back() {
        for (text, choice) in [
            ("cpu", DeviceChoice::Cpu),
            ("cuda:1", DeviceChoice::Cuda(1)),
        ] {
            assert_eq!(text.parse::<DeviceChoice>().unwrap(), choice);
            assert_eq!(choice.to_string(), text);
        }
        assert_eq!(
            "cuda".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Cuda(0)
        );
        assert!("gpu".parse::<DeviceChoice>().is_err());
        assert!("cuda:x".parse::<DeviceChoice>().is_err());
    }

    #[test]
    fn the_cpu_device_computes() {
        let device = DeviceChoice::Cpu.device().unwrap();
        let t = burn::tensor::Tensor::<1>::from_floats([1.0, 2.0], &device);
        assert_eq!(t.sum().into_scalar::<f32>(), 3.0);
    }
}
