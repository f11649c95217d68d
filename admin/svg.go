package admin

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/paygate/paygate/pg"
)

// Charts are drawn here, on the server, as plain SVG inside the page: no
// script, no library, nothing fetched. Amounts become coordinates only;
// the numbers shown are the exact amounts, formatted.

// series is one set of bars of a chart.
type series struct {
	class  string // CSS class: its colour
	label  string
	values []pg.Money
}

const (
	chartW, chartH         = 720.0, 240.0
	padL, padR, padT, padB = 8.0, 8.0, 24.0, 28.0
)

// barChart draws grouped vertical bars, one group per label.
func barChart(lang, title string, labels []string, ss []series) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`,
		chartW, chartH, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<title>%s</title>`, template.HTMLEscapeString(title))
	maxV := 0.0
	for _, s := range ss {
		for _, v := range s.values {
			maxV = max(maxV, v.Amount().InexactFloat64())
		}
	}
	plotH := chartH - padT - padB
	base := chartH - padB
	fmt.Fprintf(&b, `<line class="axis" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, padL, base, chartW-padR, base)
	if len(labels) == 0 || maxV == 0 {
		fmt.Fprintf(&b, `<text class="empty" x="%.1f" y="%.1f" text-anchor="middle">%s</text></svg>`,
			chartW/2, chartH/2, template.HTMLEscapeString(translate(lang, "detail.none")))
		return template.HTML(b.String())
	}
	var top pg.Money
	for _, s := range ss {
		for _, v := range s.values {
			if v.Amount().InexactFloat64() == maxV {
				top = v
			}
		}
	}
	fmt.Fprintf(&b, `<text class="scale" x="%.1f" y="%.1f">%s</text>`, padL, padT-8, template.HTMLEscapeString(formatMoney(lang, top)))
	fmt.Fprintf(&b, `<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, padL, padT, chartW-padR, padT)
	groupW := (chartW - padL - padR) / float64(len(labels))
	// Bars at most 48 wide, centred in their group.
	barW := min(groupW*0.8/float64(len(ss)), 48)
	for i, label := range labels {
		x0 := padL + groupW*float64(i) + (groupW-barW*float64(len(ss)))/2
		for j, s := range ss {
			if i >= len(s.values) {
				continue
			}
			v := s.values[i]
			hgt := v.Amount().InexactFloat64() / maxV * plotH
			fmt.Fprintf(&b, `<rect class="%s" x="%.2f" y="%.2f" width="%.2f" height="%.2f"><title>%s %s: %s</title></rect>`,
				s.class, x0+barW*float64(j), base-hgt, max(barW, 0.5), hgt,
				template.HTMLEscapeString(label), template.HTMLEscapeString(s.label), template.HTMLEscapeString(formatMoney(lang, v)))
		}
		// A label under the first, the last and every so many groups.
		every := max(1, len(labels)/6)
		if i == 0 || i == len(labels)-1 || i%every == 0 && len(labels)-1-i >= every/2 {
			fmt.Fprintf(&b, `<text class="label" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`,
				x0+barW*float64(len(ss))/2, chartH-10, template.HTMLEscapeString(label))
		}
	}
	for j, s := range ss {
		x := chartW - padR - 150*float64(len(ss)-j)
		fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="4" width="10" height="10"/><text class="legend" x="%.1f" y="13">%s</text>`,
			s.class, x, x+14, template.HTMLEscapeString(s.label))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// dailyChart is the dashboard's approved and refunded amounts by day.
func dailyChart(lang string, st Stats) template.HTML {
	var labels []string
	approved := series{class: "bar-approved", label: translate(lang, "dash.approved")}
	refunded := series{class: "bar-refunded", label: translate(lang, "dash.refunded")}
	for _, d := range st.ByDay {
		labels = append(labels, d.Key)
		approved.values = append(approved.values, d.ApprovedAmount)
		refunded.values = append(refunded.values, d.RefundedAmount)
	}
	return barChart(lang, translate(lang, "dash.byDay"), labels, []series{approved, refunded})
}

// pgChart is the dashboard's approved and refunded amounts by PG.
func pgChart(lang string, st Stats) template.HTML {
	var labels []string
	approved := series{class: "bar-approved", label: translate(lang, "dash.approved")}
	refunded := series{class: "bar-refunded", label: translate(lang, "dash.refunded")}
	for _, g := range st.ByPG {
		labels = append(labels, g.Key)
		approved.values = append(approved.values, g.ApprovedAmount)
		refunded.values = append(refunded.values, g.RefundedAmount)
	}
	return barChart(lang, translate(lang, "dash.byPG"), labels, []series{approved, refunded})
}
