// Card checks: Luhn (ISO/IEC 7812-1 check digit), expiry at the end of the
// expiry month, and a brand from the IIN for display. Pure functions.
export function luhnValid(digits: string): boolean {
  if (!/^[0-9]{12,19}$/.test(digits)) return false
  let sum = 0
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48
    if (i % 2 === 1) {
      d *= 2
      if (d > 9) d -= 9
    }
    sum += d
  }
  return sum % 10 === 0
}

/** True when the card is still valid during `now` (cards expire after the last day of the month). */
export function notExpired(expMonth: number, expYear: number, now: number): boolean {
  const endOfMonth = Date.UTC(expYear, expMonth, 1) // first instant of the following month
  return now < endOfMonth
}

export function brandOf(digits: string): string {
  if (digits.startsWith('4')) return 'visa'
  const two = Number(digits.slice(0, 2))
  const four = Number(digits.slice(0, 4))
  if ((two >= 51 && two <= 55) || (four >= 2221 && four <= 2720)) return 'mastercard'
  if (two === 34 || two === 37) return 'amex'
  if (digits.startsWith('6011') || digits.startsWith('65')) return 'discover'
  return 'card'
}
