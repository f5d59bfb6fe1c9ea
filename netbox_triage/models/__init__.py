from .coverage import *
from .dependencies import *
from .discoveries import *
from .facts import *
from .incidents import *
