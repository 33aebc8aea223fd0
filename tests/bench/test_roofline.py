"""fastmlp.bench.roofline: the FLOPs of a training step and an epoch, counted by hand."""

from __future__ import annotations

from fastmlp.bench import roofline


def test_flops_by_hand():
    # 784-100-10: forward 784*100 + 100*10 = 79,400 MACs; weight gradient the same; deltas propagate
    # through the second layer only: 100*10 = 1,000. 2 x 159,800 = 319,600 FLOPs per sample.
    assert roofline.sample_flops([784, 100, 10]) == 319_600
    assert roofline.n_params([784, 100, 10]) == 79_510
    # 784-256-128-10: forward 200,704 + 32,768 + 1,280 = 234,752; deltas 32,768 + 1,280 = 34,048.
    assert roofline.sample_flops([784, 256, 128, 10]) == 2 * (2 * 234_752 + 34_048)
    # 60,000 samples at batch 128: 469 updates (the last one of 96 samples), each 2 x 79,510 FLOPs.
    assert roofline.epoch_flops([784, 100, 10], 60_000, 128) == 60_000 * 319_600 + 469 * 2 * 79_510
    assert roofline.predict_flops([784, 15, 10]) == 2 * (784 * 15 + 15 * 10)
