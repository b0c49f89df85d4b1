"""Templates written for other tools (CloudFormation), judged by the same policy pack as Pulumi programs.

Each template resource becomes the pulumi-aws resource(s) it amounts to, in the recorded form the engine
hands to analyzers; the pack's adapters join them into facts and the catalogue judges them unchanged.
A value the template cannot fix before deployment (a parameter without a value, an import, an attribute
of a resource not yet created) travels as Pulumi's unknown value, so a rule that needs it is undecided.
"""

from bucketguard.errors import UserError

# What a template's unknown value depends on when it is not a resource (a parameter, an import, a
# pseudo-parameter): recorded as a resource of this type so the pack can say `depends on parameter Env`.
TEMPLATE_INPUT_TYPE = "bucketguard:template:Input"


class TemplateError(UserError):
    """A file that is not a template bucketguard can read; the message names the file and line."""
