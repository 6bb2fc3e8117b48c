import SutradharKit
print("placeholder")
