from siyu.errors import Conflict, Forbidden, NotFound, SiyuError


class ProductNotFound(NotFound):
    code = "product_not_found"
    message = "No such product."


class SkuNotFound(NotFound):
    code = "sku_not_found"
    message = "No such SKU."


class CategoryNotFound(NotFound):
    code = "category_not_found"
    message = "No such category."


class LocationNotFound(NotFound):
    code = "location_not_found"
    message = "No such location."


class DuplicateCode(Conflict):
    code = "duplicate_code"
    message = "That code is already used."


class NotSoldInChannel(SiyuError):
    code = "sku_not_sold_in_channel"
    status = 422
    message = "This SKU is not sold in this channel."


class NotAvailableYet(SiyuError):
    code = "sku_not_available_yet"
    status = 422
    message = "This SKU is not on sale in this channel yet."


class NoLongerAvailable(SiyuError):
    code = "sku_no_longer_available"
    status = 422
    message = "This SKU is no longer on sale in this channel."


class OutOfStock(Conflict):
    code = "out_of_stock"
    message = "Not enough stock."


class StockBelowReserved(Conflict):
    code = "stock_below_reserved"
    message = "On-hand stock cannot go below what open orders have reserved."


class MixedCurrencies(SiyuError):
    code = "mixed_currencies"
    status = 422
    message = "All lines of an order must be in one currency."


class TierOnly(Forbidden):
    code = "tier_required"
    message = "This item is only for members of a higher tier."
