"""ParaLip on GRID at the paper's settings (Liu et al., AAAI 2022, Sec. 4.1 and Tables 5-7).

    lipjax data build grid --data_dir data --manual_dir /path/to/GRID
    lipjax train --config experiments/configs/paralip_grid.py --workdir runs/paralip_grid

The fields and their reasons are in `lipjax/paralip/configs.py` (the importer uses them too).
"""

from lipjax.paralip.configs import grid_config


def get_config():
    return grid_config()
