//! What the kernels' glue to burn shares: whether a tensor goes to the kernels at all, a flex
//! tensor's values as a slice (or in place), a flex tensor made from values, and the gradients
//! a backward pass registers.

use burn::backend::Flex;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::flex::{FlexTensor, Layout};
use burn::tensor::{Bytes, DType, Device, Shape, Tensor};

/// Whether the fast kernels apply: f32 values on the `flex` CPU backend.
pub(super) fn on_flex_f32<const D: usize>(x: &Tensor<D>) -> bool {
    x.dtype() == DType::F32 && x.device().inner() == Device::flex()
}

/// The f32 values of a flex tensor, in row-major order, and its shape.
pub(super) fn values(t: FlexTensor) -> (Vec<usize>, FlexValues) {
    let shape = t.layout().shape().to_vec();
    (shape, FlexValues(t.to_contiguous()))
}

/// A contiguous flex tensor, read as f32.
pub(super) struct FlexValues(pub(super) FlexTensor);

impl FlexValues {
    pub fn as_slice(&self) -> &[f32] {
        self.0
            .as_slice::<f32>()
            .expect("a contiguous f32 tensor (checked before the kernels are called)")
    }
}

/// A contiguous flex tensor with `t`'s values whose storage may be changed in place: `t` itself
/// when it is contiguous, covers its whole storage and is not shared, else a copy.
pub(super) fn values_mut(t: FlexTensor) -> (Vec<usize>, FlexTensor) {
    let (shape, t) = values(t);
    let len = shape.iter().product::<usize>();
    let whole =
        t.0.layout().contiguous_offsets() == Some((0, len)) && t.0.storage::<f32>().len() == len;
    let t = if whole {
        t.0
    } else {
        flex_tensor(t.as_slice().to_vec(), shape.clone())
    };
    (shape, t)
}

pub(super) fn flex_tensor(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(values),
        Layout::contiguous(Shape::from(shape)),
        DType::F32,
    )
}

/// Registers each gradient `(node, values, shape)` of an operation's inputs, for the inputs that
/// take part in the backward pass (`node` is `Some`).
pub(super) fn register<const N: usize>(
    grads: &mut Gradients,
    each: [(Option<NodeId>, Vec<f32>, Vec<usize>); N],
) {
    for (node, values, shape) in each {
        if let Some(node) = node {
            grads.register::<Flex>(node, flex_tensor(values, shape));
        }
    }
}
