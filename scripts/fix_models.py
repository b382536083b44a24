"""One-time graph fix that lets ONNX Runtime batch the shipped models.

YuNet declares a fixed [1,3,640,640] input and ONNX Runtime refuses other sizes; SFace
declares batch 1 and lists every initializer as a graph input (an old exporter habit that
blocks constant folding). Weights are untouched: only shape declarations change.

usage: fix_models.py yunet IN OUT | sface IN OUT
"""
import sys

import onnx


def make_symbolic(value_info, names):
    dims = value_info.type.tensor_type.shape.dim
    for dim, name in zip(dims, names):
        if name is not None:
            dim.ClearField("dim_value")
            dim.dim_param = name


def fix_yunet(model):
    make_symbolic(model.graph.input[0], ["N", None, "H", "W"])
    # Output shapes depend on H and W now; let ONNX Runtime infer them.
    for out in model.graph.output:
        rank = len(out.type.tensor_type.shape.dim)
        make_symbolic(out, [f"{out.name}_d{i}" for i in range(rank)])
    del model.graph.value_info[:]


def fix_sface(model):
    initializers = {init.name for init in model.graph.initializer}
    real_inputs = [i for i in model.graph.input if i.name not in initializers]
    del model.graph.input[:]
    model.graph.input.extend(real_inputs)
    make_symbolic(model.graph.input[0], ["N"])
    for out in model.graph.output:
        make_symbolic(out, ["N"])
    del model.graph.value_info[:]


def main():
    kind, src, dst = sys.argv[1:4]
    model = onnx.load(src)
    {"yunet": fix_yunet, "sface": fix_sface}[kind](model)
    onnx.checker.check_model(model)
    onnx.save(model, dst)


if __name__ == "__main__":
    main()
