//! The recurrent forecaster of the `rnn` lab (FIDLE LADYBUG1) and of the benchmark's `gru_train`
//! workload: a GRU reads a window of positions, a dense layer maps its last hidden state to the
//! next position. GRU(2 → hidden) through the project's fused GRU kernel, Linear(hidden → 2).

use burn::module::Module;
use burn::nn::gru::{Gru, GruConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::data::table::Standardizer;
use crate::train::forecast::Forecaster;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RnnModelConfig {
    pub hidden: usize,
    /// μ and σ of each coordinate on the training part of the path.
    pub standardizer: Standardizer,
}

/// GRU(2 → hidden) over the window, Linear(hidden → 2) on its last hidden state.
#[derive(Module, Debug)]
pub struct GruForecaster {
    gru: Gru,
    output: Linear,
}

impl RnnModelConfig {
    pub fn init(&self, device: &Device) -> GruForecaster {
        GruForecaster {
            gru: GruConfig::new(2, self.hidden, true).init(device),
            output: LinearConfig::new(self.hidden, 2).init(device),
        }
    }
}

impl Forecaster for GruForecaster {
    /// `[batch, steps, 2]` → `[batch, 2]`
    fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let [batch, steps, _] = x.dims();
        let states = crate::kernels::gru(&self.gru, x); // [batch, steps, hidden]
        let [_, _, hidden] = states.dims();
        let last: Tensor<2> = states.narrow(1, steps - 1, 1).reshape([batch, hidden]);
        self.output.forward(last)
    }
}
