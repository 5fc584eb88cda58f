from benchmark_utils import load_data, pretrain
from benchopt import BaseDataset


class Dataset(BaseDataset):
    """sklearn digits: an MLP Adam-pretrained on the originals, to be fine-tuned on a
    shifted copy (contrast x0.6, 1-pixel shift, fixed additive pattern), 600 images."""

    name = "digits-shift"
    parameters = {"pretrain_epochs": [60]}
    test_parameters = {"pretrain_epochs": [1]}

    def get_data(self):
        data = load_data()
        model = pretrain(data, seed=0, epochs=self.pretrain_epochs)
        x_train, y_train, x_test, y_test = data["target"]
        return dict(model=model, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
