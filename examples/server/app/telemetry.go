package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// TelemetryConfig says where the server's traces go. Metrics are always
// served in the Prometheus format (Telemetry.Metrics, mounted at
// /metrics).
type TelemetryConfig struct {
	// OTLP sends traces with OTLP over HTTP, configured by the standard
	// OTEL_EXPORTER_OTLP_* variables (endpoint, headers, TLS, timeout).
	OTLP bool
	// Stdout, when set, receives every finished span as a JSON line.
	Stdout io.Writer
	// ServiceName names the service in traces and in Prometheus'
	// target_info; default "paygate-example". OTEL_SERVICE_NAME and
	// OTEL_RESOURCE_ATTRIBUTES override it.
	ServiceName string
}

// TelemetryFromEnv reads the standard variables: traces go to OTLP when
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set,
// and to standard output when PAYGATE_TRACE_STDOUT=1.
func TelemetryFromEnv() TelemetryConfig {
	var c TelemetryConfig
	c.OTLP = os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	if os.Getenv("PAYGATE_TRACE_STDOUT") == "1" {
		c.Stdout = os.Stdout
	}
	return c
}

// Telemetry is the OpenTelemetry SDK the server installs for paygate: a
// meter provider read by the Prometheus exporter, and a tracer provider
// that samples as OTEL_TRACES_SAMPLER says (default: every trace) and
// exports where TelemetryConfig says; with no exporter it samples nothing.
type Telemetry struct {
	MeterProvider  *sdkmetric.MeterProvider
	TracerProvider *sdktrace.TracerProvider
	// Metrics serves the metrics in the Prometheus text format: paygate's
	// and the Go runtime's and process's.
	Metrics http.Handler
}

// NewTelemetry builds the SDK. Shutdown flushes and stops it.
func NewTelemetry(ctx context.Context, cfg TelemetryConfig) (*Telemetry, error) {
	if cfg.ServiceName == "" {
		cfg.ServiceName = "paygate-example"
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", cfg.ServiceName)),
		resource.WithTelemetrySDK(), resource.WithFromEnv())
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	t := &Telemetry{
		MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter), sdkmetric.WithResource(res)),
		Metrics:       promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if cfg.OTLP {
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			_ = t.MeterProvider.Shutdown(ctx)
			return nil, fmt.Errorf("telemetry: OTLP exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	if cfg.Stdout != nil {
		exp, err := stdouttrace.New(stdouttrace.WithWriter(cfg.Stdout))
		if err != nil {
			_ = t.MeterProvider.Shutdown(ctx)
			return nil, fmt.Errorf("telemetry: stdout exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	if !cfg.OTLP && cfg.Stdout == nil {
		// Nowhere to send spans: record none.
		opts = append(opts, sdktrace.WithSampler(sdktrace.NeverSample()))
	}
	t.TracerProvider = sdktrace.NewTracerProvider(opts...)
	return t, nil
}

// Install makes the providers the global ones, and W3C Trace Context and
// Baggage the global propagators.
func (t *Telemetry) Install() {
	otel.SetMeterProvider(t.MeterProvider)
	otel.SetTracerProvider(t.TracerProvider)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
}

// Shutdown sends the spans still buffered and stops both providers.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	return errors.Join(t.TracerProvider.Shutdown(ctx), t.MeterProvider.Shutdown(ctx))
}
