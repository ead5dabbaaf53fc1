"""ParaLip on TCD-TIMIT (phoneme tokens, 29.97 fps; longer sentences than GRID).

The fields are in `lipjax/paralip/configs.py` (`timit_config`).
"""

from lipjax.paralip.configs import timit_config


def get_config():
    return timit_config()
