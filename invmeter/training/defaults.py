"""The trainer's defaults, in a module without PyTorch so that the command line can show them in ``--help``
without importing it. :class:`invmeter.training.loop.TrainConfig` takes its field defaults from here."""

TRAIN_DEFAULTS = {
    "arch": "cifar:resnet18",  # cifar:resnet18|vgg11|densenet121 or timm:NAME (bare: cifar first, then timm)
    "width": 1.0,  # channel multiplier of the cifar architectures (1 = the paper's); timm models: 1 only
    "n_train": 6_000,  # training scenes: their transform parameters are drawn again every epoch (redraw)
    "n_val": 1_000,  # validation images, scored after every epoch
    "n_test": 2_000,  # held-out test images, scored once at the end
    "epochs": 15,  # full passes over the training split
    "batch_size": 128,  # images per Adam step; an epoch drops its last incomplete batch
    "lr": 1e-3,  # Adam learning rate, constant (the paper: 1e-3, no schedule)
    "weight_decay": 0.0,  # Adam's L2 weight decay (the paper: none)
    "seed": 0,  # seeds the splits (seed + 0 / 110 / 220), the initialisation and the batch order
    "device": "auto",  # auto | cpu | cuda | cuda:N
    "threads": 0,  # CPU threads for the whole process (0 = PyTorch's own choice); same count => same bits
    "amp": False,  # bfloat16 autocast on CUDA (ignored on CPU); off: float32, as in the paper
    "channels_last": True,  # NHWC weights and inputs on CUDA (ignored on CPU)
    "compile": False,  # torch.compile the model on CUDA (ignored on CPU)
    "redraw": True,  # Transforms-2D transform parameters drawn again every epoch (the paper); False: one fixed split
    "track_images": 256,  # controlled pairs in --track's fixed held-out set
}
