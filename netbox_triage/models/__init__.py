from .facts import *
from .incidents import *
