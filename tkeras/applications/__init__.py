"""`keras.applications`: the Keras image-classification architectures, ported from Keras.

Builders keep Keras's signatures, layer names, weight order and configs, so models and weight
files saved by Keras load here and back. Nothing is downloaded: the default
`weights="imagenet"` raises a ValueError asking for `weights=None` or a local weights file
(see tkeras/applications/_common.py); `decode_predictions` reads a local class index only.
"""

from tkeras.applications import convnext
from tkeras.applications import densenet
from tkeras.applications import efficientnet
from tkeras.applications import efficientnet_v2
from tkeras.applications import imagenet_utils
from tkeras.applications import inception_resnet_v2
from tkeras.applications import inception_v3
from tkeras.applications import mobilenet
from tkeras.applications import mobilenet_v2
from tkeras.applications import mobilenet_v3
from tkeras.applications import nasnet
from tkeras.applications import resnet
from tkeras.applications import resnet50
from tkeras.applications import resnet_v2
from tkeras.applications import vgg16
from tkeras.applications import vgg19
from tkeras.applications import xception
from tkeras.applications.convnext import ConvNeXtBase
from tkeras.applications.convnext import ConvNeXtLarge
from tkeras.applications.convnext import ConvNeXtSmall
from tkeras.applications.convnext import ConvNeXtTiny
from tkeras.applications.convnext import ConvNeXtXLarge
from tkeras.applications.densenet import DenseNet121
from tkeras.applications.densenet import DenseNet169
from tkeras.applications.densenet import DenseNet201
from tkeras.applications.efficientnet import EfficientNetB0
from tkeras.applications.efficientnet import EfficientNetB1
from tkeras.applications.efficientnet import EfficientNetB2
from tkeras.applications.efficientnet import EfficientNetB3
from tkeras.applications.efficientnet import EfficientNetB4
from tkeras.applications.efficientnet import EfficientNetB5
from tkeras.applications.efficientnet import EfficientNetB6
from tkeras.applications.efficientnet import EfficientNetB7
from tkeras.applications.efficientnet_v2 import EfficientNetV2B0
from tkeras.applications.efficientnet_v2 import EfficientNetV2B1
from tkeras.applications.efficientnet_v2 import EfficientNetV2B2
from tkeras.applications.efficientnet_v2 import EfficientNetV2B3
from tkeras.applications.efficientnet_v2 import EfficientNetV2L
from tkeras.applications.efficientnet_v2 import EfficientNetV2M
from tkeras.applications.efficientnet_v2 import EfficientNetV2S
from tkeras.applications.inception_resnet_v2 import InceptionResNetV2
from tkeras.applications.inception_v3 import InceptionV3
from tkeras.applications.mobilenet import MobileNet
from tkeras.applications.mobilenet_v2 import MobileNetV2
from tkeras.applications.mobilenet_v3 import MobileNetV3Large
from tkeras.applications.mobilenet_v3 import MobileNetV3Small
from tkeras.applications.nasnet import NASNetLarge
from tkeras.applications.nasnet import NASNetMobile
from tkeras.applications.resnet import ResNet50
from tkeras.applications.resnet import ResNet101
from tkeras.applications.resnet import ResNet152
from tkeras.applications.resnet_v2 import ResNet50V2
from tkeras.applications.resnet_v2 import ResNet101V2
from tkeras.applications.resnet_v2 import ResNet152V2
from tkeras.applications.vgg16 import VGG16
from tkeras.applications.vgg19 import VGG19
from tkeras.applications.xception import Xception

__all__ = [
    "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtSmall", "ConvNeXtTiny", "ConvNeXtXLarge",
    "DenseNet121", "DenseNet169", "DenseNet201",
    "EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3", "EfficientNetB4",
    "EfficientNetB5", "EfficientNetB6", "EfficientNetB7",
    "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3",
    "EfficientNetV2L", "EfficientNetV2M", "EfficientNetV2S",
    "InceptionResNetV2", "InceptionV3",
    "MobileNet", "MobileNetV2", "MobileNetV3Large", "MobileNetV3Small",
    "NASNetLarge", "NASNetMobile",
    "ResNet101", "ResNet101V2", "ResNet152", "ResNet152V2", "ResNet50", "ResNet50V2",
    "VGG16", "VGG19", "Xception",
]
