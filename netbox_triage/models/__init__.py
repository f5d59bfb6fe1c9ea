from .incidents import *
