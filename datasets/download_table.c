/* The published archives bmst_data download fetches. The checksums are the
 * ones torchvision's datasets module checks the same files against; the CIFAR
 * entries fetch the Python release (which convert cifar10|cifar100 reads),
 * whose checksums are published there, rather than the binary one. */
#include "download.h"

#include <string.h>

static const struct bmst_download_source sources[] = {
    {"cifar10",
     "cifar10",
     "https://www.cs.toronto.edu/~kriz/",
     {{"cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a", 1}},
     NULL},
    {"cifar100",
     "cifar100",
     "https://www.cs.toronto.edu/~kriz/",
     {{"cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85", 1}},
     NULL},
    {"fashion-mnist",
     "fashion-mnist",
     "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
     {{"train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", 0},
      {"train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe", 0},
      {"t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79", 0},
      {"t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310", 0}},
     NULL},
    {"flowers102",
     "flowers102",
     "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/",
     {{"102flowers.tgz", "52808999861908f626f3c1f4e79d11fa", 1},
      {"imagelabels.mat", "e0620be6f572b9609742df49c70aed4d", 0},
      {"setid.mat", "a5357ecc9cb78c4bef273ce3793fc85c", 0}},
     NULL},
    {"miniimagenet",
     "miniimagenet",
     NULL,
     {{NULL, NULL, 0}},
     "miniImageNet has no archive at a stable public address: get its images/ folder and "
     "train.csv, val.csv, test.csv (docs/dataset-format.md), then run bmst_data convert "
     "miniimagenet DIR OUT.h5"},
};

const char *const bmst_download_names =
    "cifar10, cifar100, fashion-mnist, flowers102, miniimagenet";

const struct bmst_download_source *bmst_download_find(const char *name) {
    for (size_t i = 0; i < sizeof sources / sizeof sources[0]; i++)
        if (strcmp(sources[i].name, name) == 0) return &sources[i];
    return NULL;
}
