from siyu.errors import Conflict, NotFound, SiyuError


class PersonNotFound(NotFound):
    code = "person_not_found"
    message = "No person has that id or identifier."


class MergeNotFound(NotFound):
    code = "merge_not_found"
    message = "No such merge."


class ConflictNotFound(NotFound):
    code = "conflict_not_found"
    message = "No such identity conflict."


class MergeAlreadyUndone(Conflict):
    code = "merge_already_undone"
    message = "This merge was already undone (or is itself an unmerge)."


class SamePerson(Conflict):
    code = "same_person"
    message = "Both ids are already the same person."


class UnknownIdentifierKind(SiyuError):
    code = "unknown_identifier_kind"
    status = 422
    message = "Identifier kinds are user_id, anonymous_id, phone, email, wechat_unionid, wechat_openid, device_id."


class InvalidIdentifier(SiyuError):
    code = "invalid_identifier"
    status = 422
    message = "The identifier is malformed or a junk value."


class NoIdentifiers(SiyuError):
    code = "no_identifiers"
    status = 422
    message = "Give at least one usable identifier."
