"""Offline policy harness: run a Pulumi program under the SDK's mock runtime and drive a policy pack over
the analyzer gRPC protocol in the order the Pulumi engine uses, with no CLI and no cloud."""
