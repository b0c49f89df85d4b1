"""The embedded AWS: moto's server on 127.0.0.1, two accounts, and a local runner that feeds SQS messages to
the pipeline's handler functions the way Lambda's SQS event source does. Used by the tests and the demo."""
