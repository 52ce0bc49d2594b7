"""One process, DeepSpeed ZeRO-3 on CPU (gloo): iter_hf_weights of the partitioned model (plain and with LoRA) must
equal the full model's weights (LoRA: peft's merge_and_unload). Run by test_weights.py; prints one JSON line."""
import copy
import json
import os
import socket
import sys

import torch


def main(model_dir: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0", LOCAL_RANK="0", WORLD_SIZE="1")
    import deepspeed
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    from video_ktr.rollout.weights import iter_hf_weights

    deepspeed.init_distributed(dist_backend="gloo")
    cfg = {"train_micro_batch_size_per_gpu": 1, "zero_allow_untested_optimizer": True,
           "zero_optimization": {"stage": 3, "stage3_param_persistence_threshold": 0},
           "optimizer": {"type": "SGD", "params": {"lr": 0.1}}}
    out = {}
    for kind in ("plain", "lora"):
        torch.manual_seed(0)
        model = AutoModelForImageTextToText.from_pretrained(model_dir)
        if kind == "lora":
            model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    torch.nn.init.normal_(p, std=0.5)
            want = copy.deepcopy(model).merge_and_unload().state_dict()
        else:
            want = {k: v.clone() for k, v in model.state_dict().items()}
        engine, *_ = deepspeed.initialize(model=model, config=cfg,
                                          model_parameters=[p for p in model.parameters() if p.requires_grad])
        local = sum(p.numel() for p in engine.module.parameters())        # ZeRO-3: nothing left whole here
        got = {n: t.clone() for n, t in iter_hf_weights(engine.module)}
        out[kind] = {"local_numel": local, "names_equal": set(got) == set(want),
                     "max_abs_diff": max(float((got[k] - want[k]).abs().max()) for k in got),
                     "partitioned": all(hasattr(p, "ds_id") for p in engine.module.parameters())}
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
